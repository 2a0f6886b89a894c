"""Frame sources (Qt-free): webcam, video file/stream, image, folder of images, animated demo.

from ferapp.capture import open_source
with open_source("demo:2", realtime=False, max_frames=100) as src:
    for frame in src: ...
"""

from ferapp.capture.base import (
    DEMO_FACES,
    IMAGE_EXTS,
    VIDEO_EXTS,
    FrameSource,
    SourceError,
    list_source_kinds,
    open_source,
    parse_source_spec,
    register_source,
)
from ferapp.capture.demo import DemoSource
from ferapp.capture.photos import PhotoBook, is_photo_spec
from ferapp.capture.sources import (
    FolderSource,
    ImageSource,
    StreamSource,
    VideoFileSource,
    WebcamSource,
    list_cameras,
    read_image,
)
from ferapp.paths import resources_dir

__all__ = [
    "DEMO_FACES",
    "IMAGE_EXTS",
    "VIDEO_EXTS",
    "FrameSource",
    "SourceError",
    "list_source_kinds",
    "open_source",
    "parse_source_spec",
    "register_source",
    "FolderSource",
    "ImageSource",
    "StreamSource",
    "VideoFileSource",
    "WebcamSource",
    "DemoSource",
    "list_cameras",
    "read_image",
    "resources_dir",
    "PhotoBook",
    "is_photo_spec",
]
