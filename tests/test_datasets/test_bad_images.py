"""A missing or corrupt image: a clear error naming the file and the
record, or (training, bad_image='skip') a counted warning and another
record."""
import os
import shutil

import pytest

from tbps.datasets.base_dataset import AnnotationError
from tbps.registry import DATASETS

PIPELINE = [dict(type='LoadImageFromFile'), dict(type='PackTBPSInputs')]


@pytest.fixture()
def broken_root(tiny_synth_root, tmp_path):
    root = tmp_path / 'data'
    shutil.copytree(tiny_synth_root, root)
    imgs = sorted((root / 'imgs' / 'train').iterdir())
    os.remove(imgs[0])                     # missing
    imgs[1].write_bytes(b'not a jpeg')     # corrupt
    return str(root), str(imgs[0]), str(imgs[1])


def build(root, **kwargs):
    return DATASETS.build(dict(type='SynthPEDES', data_root=root,
                               split='train', pipeline=PIPELINE, **kwargs))


def _index_of(dataset, path):
    return next(i for i in range(len(dataset))
                if dataset.get_data_info(i)['img_path'] == path)


def test_error_names_file_record_and_fix(broken_root):
    root, missing, corrupt = broken_root
    dataset = build(root)
    with pytest.raises(AnnotationError) as err:
        dataset[_index_of(dataset, missing)]
    message = str(err.value)
    assert 'reid_raw.json, record ' in message and missing in message
    assert 'does not exist' in message and "bad_image='skip'" in message
    with pytest.raises(AnnotationError, match='not a readable image'):
        dataset[_index_of(dataset, corrupt)]


def test_skip_counts_and_refetches(broken_root):
    root, missing, corrupt = broken_root
    dataset = build(root, bad_image='skip')
    good = next(i for i in range(len(dataset))
                if dataset.get_data_info(i)['img_path']
                not in (missing, corrupt))
    # mmengine refetches a random record; pin it so the count is exact.
    dataset._rand_another = lambda: good
    out = dataset[_index_of(dataset, missing)]
    assert out['inputs'] is not None  # another record, loaded
    assert out['data_samples'].img_path not in (missing, corrupt)
    dataset[_index_of(dataset, corrupt)]
    assert dataset.num_bad_images == 2


def test_skip_is_refused_for_evaluation(tiny_synth_root):
    with pytest.raises(ValueError, match='training splits'):
        DATASETS.build(dict(type='SynthPEDES', data_root=tiny_synth_root,
                            split='test', pipeline=PIPELINE,
                            bad_image='skip'))
