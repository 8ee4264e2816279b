"""Stage-1 classifiers and their parts, registered in mmpretrain's registry."""
from .affinity import *  # noqa: F401,F403
from .backbones import *  # noqa: F401,F403
from .classifiers import *  # noqa: F401,F403
from .heads import *  # noqa: F401,F403
from .losses import *  # noqa: F401,F403
from .necks import ClassTokenNeck  # noqa: F401
