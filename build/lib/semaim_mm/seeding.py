"""The one seed hash of the project (order noise per image, RNG re-seeding
per iteration): importable by the models and the engine alike."""


def mix_seed(base: int, a: int, b: int, bits: int = 63) -> int:
    """A seed that depends only on ``(base, a, b)``, in ``[0, 2**bits)``.

    The model seeds an image's order noise with ``(seed, iteration,
    sample index)`` and :class:`~semaim_mm.engine.ExactResumeHook` the global
    RNGs with ``(seed, rank, iteration)`` (``bits=32``: numpy's limit), so
    neither depends on the batch split, the world size or saved RNG state.
    """
    return ((base * 1_000_003 + a) * 1_000_000_007 + b) % (2**bits)
