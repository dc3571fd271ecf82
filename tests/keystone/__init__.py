"""The loopback Keystone itself, and the official clients (eclcli, eclsdk) driven through it:
tokens for a project's user, their validation, the catalog's endpoints."""
