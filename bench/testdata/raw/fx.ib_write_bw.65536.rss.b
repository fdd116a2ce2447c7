hwm_kb=4932 anon_peak_kb=672
