"""ferapp: real-time facial expression recognition built on five FER papers."""

__version__ = "0.1.0"


def resources_dir():
    """Folder with demo media, icons and sounds shipped with ferapp."""
    from ferapp.paths import resources_dir as _rd

    return _rd()
