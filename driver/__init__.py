"""Host driver: talks to a core over the UART protocol of :mod:`plasticore.protocol`."""
