"""cf-agent: verified counterfactual explanations for health classifiers."""

__version__ = "0.1.0"
