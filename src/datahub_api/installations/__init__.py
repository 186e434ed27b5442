"""Installation data (Fluvius data service ``IG``): what ESPs read of the registry's
installation facts under an ``IG`` mandate."""
