hwm_kb=157356 anon_peak_kb=54408
