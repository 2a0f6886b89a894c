"""One module per paper; importing this package fills the registry."""

from ferapp.zoo.models import p1_lenet, p2_resnet, p3_hsic, p4_dsc_se, p5_bdnn  # noqa: F401
