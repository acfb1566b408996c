"""saaskit: the back office of a SaaS product."""

__version__ = "0.1.0"
