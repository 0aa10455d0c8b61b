import pytest

from snnlib import config
from snnlib.config import Config, from_dict, load_config, load_profile
from snnlib.errors import SnnlibError


def test_defaults_are_the_papers():
    c = Config()
    assert (c.seed, c.model.T, c.model.K, c.model.weighted) == (3407, 10, 8, False)
    assert (c.train.lr, c.train.betas, c.train.batch_size, c.train.epochs) == (1e-3, [0.9, 0.999], 16, 100)
    assert c.train.weight_decay == 1e-3  # the authors' code
    assert (c.attack.eps, c.attack.pgd_alpha, c.attack.pgd_steps) == (8 / 255, 0.01, 7)
    assert (c.attack.space, c.attack.bn) == ("pixel", "eval")


def test_fraction_strings_and_overrides():
    c = from_dict({"attack": {"eps": "6/255", "eps_sweep": ["2/255", 0.5]}})
    assert c.attack.eps == pytest.approx(6 / 255) and c.attack.eps_sweep[0] == pytest.approx(2 / 255)
    c2 = config.with_overrides(c, ["model.width=8", "train.epochs=3", "data.dataset=imagefolder:/x"])
    assert (c2.model.width, c2.train.epochs, c2.data.dataset) == (8, 3, "imagefolder:/x")


@pytest.mark.parametrize(
    "raw, match",
    [
        ({"modle": {}}, "unknown config key 'modle' \\(did you mean 'model'\\?\\)"),
        ({"model": {"widht": 3}}, "unknown config key 'model.widht' \\(did you mean 'width'\\?\\)"),
        ({"model": {"width": "wide"}}, "model.width must be an integer"),
        ({"model": {"pool": "min"}}, "unknown model.pool 'min'"),
        ({"model": {"arch": "vgg11"}}, "unknown model.arch"),
        ({"train": {"flip": "yes"}}, "train.flip must be true or false"),
        ({"attack": {"eps": 8}}, "must lie in \\[0, 1\\]"),
        ({"data": {"dataset": "svhn"}}, "unknown dataset 'svhn'"),
        ({"train": {"epochs": 0}}, "train.epochs must be >= 1"),
        ({"model": 3}, "model must be a mapping"),
    ],
)
def test_strict_validation(raw, match):
    with pytest.raises(SnnlibError, match=match):
        from_dict(raw)


def test_bad_override_and_missing_file(tmp_path):
    with pytest.raises(SnnlibError, match="key.sub=value"):
        config.apply_overrides({}, ["model.width"])
    with pytest.raises(SnnlibError, match="not found"):
        load_config(tmp_path / "nope.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("model: [unclosed")
    with pytest.raises(SnnlibError, match="not valid YAML"):
        load_config(bad)


def test_keys_ignore_names_and_attack():
    a = from_dict({"name": "a"})
    b = from_dict({"name": "b", "notes": "x", "attack": {"eps": 0.01}, "train": {"workers": 4}})
    assert a.train_key() == b.train_key() and a.eval_key() != b.eval_key()
    assert a.train_key() != from_dict({"model": {"width": 8}}).train_key()


def test_batching_changes_a_bn_eval_key_unless_it_is_the_default():
    """Under BN eval a prediction ignores its batch, but PGD's random starts (one generator, batch by batch) do not:
    another batch size or order is another result; the default batching keeps the keys of the committed results."""
    base = from_dict({})
    assert base.eval_key() == from_dict({"attack": {"batch_size": 64, "batch_order": "dataset"}}).eval_key()
    assert base.eval_key() == from_dict({"attack": {"order_seed": 5}}).eval_key()  # no shuffle: the seed is unused
    others = [{"batch_size": 16}, {"batch_order": "shuffled"}, {"batch_order": "shuffled", "order_seed": 5}]
    keys = {base.eval_key(), *(from_dict({"attack": a}).eval_key() for a in others)}
    assert len(keys) == 4


@pytest.mark.parametrize("profile", ["quick", "paper"])
def test_profile_configs_validate(profile):
    cfgs = load_profile(profile)
    assert cfgs and all(c.profile == profile for c in cfgs.values())


def test_every_paper_table_row_has_a_config():
    rows = {(c.data.dataset, c.model.arch, c.model.pool) for c in load_profile("paper").values()}
    for ds in ("cifar10", "cifar100", "cifar10-dvs"):
        for depth in (18, 34, 50):
            for pool in ("max", "avg"):
                assert (ds, f"sew_resnet{depth}", pool) in rows
    for depth in (18, 34, 50):
        assert ("cifar100", f"spiking_resnet{depth}", "max") in rows


def test_profile_env(monkeypatch):
    monkeypatch.setenv("SNNLIB_PROFILE", "huge")
    with pytest.raises(SnnlibError, match="unknown profile"):
        config.profile()
    monkeypatch.setenv("SNNLIB_DATA", "some/rel")
    assert config.data_root() == (config.project_root() / "some/rel").resolve()


def test_replace_is_typed_and_validated():
    from snnlib.config import Config, replace

    cfg = replace(Config(), name="twin", model={"neuron": "relu", "T": 1}, train={"adversarial": {"steps": 3}})
    assert (cfg.name, cfg.model.neuron, cfg.model.T, cfg.train.adversarial.steps) == ("twin", "relu", 1, 3)
    assert cfg.model.K == Config().model.K  # the other fields are kept
    with pytest.raises(SnnlibError, match="unknown config field 'widht' of ModelConfig"):
        replace(Config(), model={"widht": 8})
    with pytest.raises(SnnlibError):
        replace(Config(), model={"neuron": "relux"})  # validated like a file
