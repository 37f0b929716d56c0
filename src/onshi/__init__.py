"""onshi — online eligibility verification (オンライン資格確認) and the insurer work around it."""

__version__ = "0.1.0"
