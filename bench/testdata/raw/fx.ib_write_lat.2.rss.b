hwm_kb=4788 anon_peak_kb=624
