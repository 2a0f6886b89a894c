"""ferapp: real-time facial expression recognition built on five FER papers."""

__version__ = "0.1.0"
