"""ctr-pipeline: the DeepCTR model zoo as a TFX pipeline."""
from setuptools import find_packages, setup

setup(
    name="ctr-pipeline",
    version="0.1.0",
    description="DeepCTR-compatible CTR models trained and served by a TFX pipeline",
    # benchmarks/ and tests/ are the repository's, not the product's: never installed
    packages=find_packages(include=["pipeline", "pipeline.*", "components", "components.*",
                                    "ctr_models", "ctr_models.*", "data", "data.*"],
                           exclude=["benchmarks", "benchmarks.*", "tests", "tests.*"]),
    package_data={"data": ["specs/*.yaml", "samples/*"],
                  "pipeline.reporting": ["templates/*"]},
    python_requires=">=3.10",
    install_requires=[
        "tfx==1.16.0",
        "tensorflow-transform",
        "tensorflow-model-analysis",
        "tensorflow",
        "tf-keras",
        "apache-beam",
        "numpy",
        "pandas",
        "scikit-learn",
        "kfp-pipeline-spec",
        "PyYAML",
        "matplotlib",
        "Jinja2",
        "tqdm",
        "packaging",
    ],
    extras_require={"test": ["pytest"]},
    entry_points={"console_scripts": ["ctr-pipeline=pipeline.cli:main"]},
)
