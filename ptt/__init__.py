"""ptt: soft prompt tuning and prompt transfer on frozen backbones, under DeepSpeed."""

__version__ = "0.1.0"
