hwm_kb=4872 anon_peak_kb=668
