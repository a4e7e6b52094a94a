"""Verifiable Credentials 2.0: data model, VC-JOSE, SD-JWT VC, Data Integrity, status lists, DCQL, one verifier.

Import the modules (``vc.verify``, ``vc.sd_jwt``, ...); each pins its public names in ``__all__``.
"""
