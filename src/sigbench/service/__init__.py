"""A signature verification service built on the bench: bundles, enrolment, verification, identification.

Layers: :mod:`bundle` (models + settings + thresholds as one artefact), :mod:`pipeline` (files -> signatures
-> embeddings), :mod:`store` (identities, references, documents, audit log), and on top :mod:`enrol`,
:mod:`verify`, :mod:`identify`, :mod:`calibrate` and the ``sigbench-service`` command line. The service
imports the bench; the bench never imports the service.
"""
