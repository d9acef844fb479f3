"""GANs on garment crops: the study's DCGAN and a recipe that makes designs from little data.

* :mod:`~fashionlib.gan.models` - the study's Generator/Discriminator and the small-data models;
* :mod:`~fashionlib.gan.augment` - DiffAugment;
* :mod:`~fashionlib.gan.step` - one training step (``gan_step``), the code notebook 06 shows;
* :mod:`~fashionlib.gan.config` - ``GanConfig``, the recipes and the course's budgets;
* :mod:`~fashionlib.gan.train` - data, run folder, resume and time budget around the step;
* :mod:`~fashionlib.gan.sample` - loading generators, sampling, writing designs;
* :mod:`~fashionlib.gan.figures` - curves, grids, the study's log lines.
"""

from fashionlib.gan.augment import diff_augment
from fashionlib.gan.cli import add_commands
from fashionlib.gan.config import (
    RECIPES,
    SAMPLE_UPDATES,
    SAMPLE_UPDATES_128,
    GanConfig,
    default_config,
    recipe_config,
    run_dir_for,
)
from fashionlib.gan.figures import (
    STUDY_FINAL,
    last_line,
    log_lines,
    model_summary,
    plot_curves,
    progress_figure,
    real_vs_fake,
    run_summary,
    study_comparison,
)
from fashionlib.gan.models import (
    SIZES,
    Discriminator,
    GanError,
    Generator,
    ResizeGenerator,
    SNDiscriminator,
    architecture_table,
    condition_vectors,
    parameter_count,
    weights_init,
)
from fashionlib.gan.sample import (
    build_generator,
    class_indices,
    generate,
    load_generator,
    recalibrate_bn,
    to_uint8,
    write_designs,
)
from fashionlib.gan.step import d_loss, ema_update, g_loss, gan_step
from fashionlib.gan.train import (
    CropBatches,
    FailureMonitor,
    GanRun,
    TrainingFailureWarning,
    build_models,
    crops_id,
    ensure_gan,
    load_run,
    read_config,
    read_state,
    settings_key,
    train_gan,
    uint8_to_input,
)

__all__ = [
    "RECIPES", "SAMPLE_UPDATES", "SAMPLE_UPDATES_128", "SIZES", "add_commands", "STUDY_FINAL", "CropBatches", "Discriminator", "FailureMonitor", "GanConfig", "GanError",
    "GanRun", "Generator", "ResizeGenerator", "SNDiscriminator", "TrainingFailureWarning", "architecture_table",
    "build_generator", "build_models", "class_indices", "condition_vectors", "crops_id", "d_loss", "default_config", "diff_augment",
    "ema_update", "ensure_gan", "g_loss", "gan_step", "generate", "last_line", "load_generator", "load_run",
    "log_lines", "model_summary", "parameter_count", "plot_curves", "progress_figure", "read_config", "read_state",
    "real_vs_fake", "recalibrate_bn", "run_summary", "recipe_config", "run_dir_for", "settings_key", "study_comparison",
    "to_uint8", "train_gan", "uint8_to_input", "weights_init", "write_designs",
]
