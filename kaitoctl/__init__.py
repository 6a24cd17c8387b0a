"""kaitoctl: Kaito's preset deployment and fine-tuning for AKS, imperatively, with no in-cluster operator."""

__version__ = "0.1.0"
