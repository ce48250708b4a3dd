"""Repositories, one per aggregate."""
