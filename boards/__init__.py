"""Board platforms and bitstream builds for the plasticore gateware."""
