"""Importing leads, contacts and accounts from .xlsx and .csv files."""
