"""Monthly capacity peaks (capaciteitstarief) of electricity access points."""
