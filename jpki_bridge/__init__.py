"""My Number card access (APDU, PC/SC, input-assist AP), the software card with its test CA, and JPKI chain
and revocation validation (to come)."""
