"""``python -m customrun_core`` is the ``customrun`` command (torchrun launches it this way)."""

from customrun_core.cli import main

if __name__ == "__main__":
    main()
