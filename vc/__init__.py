"""Verifiable Credentials 2.0: data model, VC-JOSE, SD-JWT VC, Data Integrity, status lists and DCQL (to come)."""
