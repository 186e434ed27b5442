"""``python -m datahub_api.cli``: the same command line as ``datahub-api``."""

from datahub_api.cli import main

if __name__ == "__main__":
    main()
