hwm_kb=7164 anon_peak_kb=1452
