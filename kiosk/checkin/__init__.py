"""The kiosk's decisions: the screen state machine, the visit log and the kiosk's texts."""
