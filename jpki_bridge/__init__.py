"""My Number card access (APDUs, PC/SC and vpcd transports, the JPKI and input-assist applications), the software
card with its TEST CA, basic 4 info parsing, and JPKI chain and revocation validation.

Import the modules (``jpki_bridge.jpki``, ``jpki_bridge.trust``, ...); each pins its public names in ``__all__``.
"""
