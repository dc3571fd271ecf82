"""``python -m nornir_esi.cli``: the same as ``nornir-esi``."""

from nornir_esi.cli import main

if __name__ == "__main__":
    main()
