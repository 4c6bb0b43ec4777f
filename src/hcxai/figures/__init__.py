"""Figures a paper could use (matplotlib only), and the readers that gather their data
from what the computing stages wrote."""
