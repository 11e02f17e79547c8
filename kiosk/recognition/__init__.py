"""Who a face is: calibrated mask-aware matching, tracking and votes, the live per-frame loop."""
