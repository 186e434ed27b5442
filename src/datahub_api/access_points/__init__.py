"""The access-point registry: EANs, their meters, sub-headpoints, communication and parties."""
