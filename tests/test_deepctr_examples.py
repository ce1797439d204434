"""DeepCTR 0.9.4's documented example scripts (docs/source/Examples.md and examples/run_*.py),
each as a test on generated data of the same layout, written against ctr_models with DeepCTR's
API calls unchanged. Sizes are cut down (few rows, 1 epoch); the steps are the examples' own.

Changes besides `deepctr` -> `ctr_models` in the imports (TensorFlow 2.16 facts, not ours):
- `tensorflow.python.keras.preprocessing.sequence.pad_sequences` no longer exists: it is imported
  from `tf_keras.preprocessing.sequence` (the same function);
- `tf.estimator.RunConfig` no longer exists: `ctr_models.estimator.RunConfig` takes its place
  (with `run_eagerly=True` here: one or two steps, where tracing would cost more than it saves);
- DIEN/DSIN's `tf.compat.v1.disable_eager_execution()` is dropped: our DIEN/DSIN are TF2 models,
  and the call would switch the whole test process to graph mode;
- the Hash-with-vocabulary example's TF1 `tf.Session()` branch is dead code on TF 2 and dropped.
"""
import numpy as np
import pandas as pd
import pytest
import tensorflow as tf
from sklearn.metrics import log_loss, mean_squared_error, roc_auc_score
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import LabelEncoder, MinMaxScaler
from tf_keras.preprocessing.sequence import pad_sequences

from ctr_models.feature_column import (DenseFeat, SparseFeat, VarLenSparseFeat,
                                       get_feature_names)
from ctr_models.models import MODEL_NAMES
from data.census import write_census
from data.generators import write_criteo, write_movielens

SPARSE = ["C" + str(i) for i in range(1, 27)]
DENSE = ["I" + str(i) for i in range(1, 14)]
ML_SPARSE = ["movie_id", "user_id", "gender", "age", "occupation", "zip"]


def needs(model):
    if model not in MODEL_NAMES:
        pytest.fail(f"{model} is not registered in ctr_models.models")


@pytest.fixture(scope="module")
def criteo_sample(tmp_path_factory):
    folder = tmp_path_factory.mktemp("criteo")
    write_criteo(str(folder), rows=200, seed=3, file_name="criteo_sample.txt")
    return str(folder / "criteo_sample.txt")


@pytest.fixture(scope="module")
def movielens_sample(tmp_path_factory):
    folder = tmp_path_factory.mktemp("movielens")
    write_movielens(str(folder), rows=200, seed=3, file_name="movielens_sample.txt")
    return str(folder / "movielens_sample.txt")


def assert_probabilities(pred, n):
    pred = np.asarray(pred)
    assert pred.shape == (n, 1) and np.all((pred >= 0) & (pred <= 1))


# ----------------------------------------------------------------------------- Criteo


def test_classification_criteo(criteo_sample):
    from ctr_models.models import DeepFM
    data = pd.read_csv(criteo_sample)
    data[SPARSE] = data[SPARSE].fillna('-1', )
    data[DENSE] = data[DENSE].fillna(0, )
    target = ['label']
    for feat in SPARSE:
        data[feat] = LabelEncoder().fit_transform(data[feat])
    data[DENSE] = MinMaxScaler(feature_range=(0, 1)).fit_transform(data[DENSE])
    fixlen_feature_columns = [SparseFeat(feat, vocabulary_size=data[feat].max() + 1,
                                         embedding_dim=4) for feat in SPARSE] + [
        DenseFeat(feat, 1, ) for feat in DENSE]
    linear_feature_columns = dnn_feature_columns = fixlen_feature_columns
    feature_names = get_feature_names(linear_feature_columns + dnn_feature_columns)
    train, test = train_test_split(data, test_size=0.2, random_state=2020)
    train_model_input = {name: train[name] for name in feature_names}
    test_model_input = {name: test[name] for name in feature_names}
    model = DeepFM(linear_feature_columns, dnn_feature_columns, task='binary')
    model.compile("adam", "binary_crossentropy", metrics=['binary_crossentropy'], )
    model.fit(train_model_input, train[target].values, batch_size=256, epochs=1, verbose=0,
              validation_split=0.2, )
    pred_ans = model.predict(test_model_input, batch_size=256, verbose=0)
    assert_probabilities(pred_ans, len(test))
    assert np.isfinite(log_loss(test[target].values, pred_ans))
    roc_auc_score(test[target].values, pred_ans)


def test_classification_criteo_hash(criteo_sample):
    from ctr_models.models import DeepFM
    data = pd.read_csv(criteo_sample)
    data[SPARSE] = data[SPARSE].fillna('-1', )
    data[DENSE] = data[DENSE].fillna(0, )
    target = ['label']
    data[DENSE] = MinMaxScaler(feature_range=(0, 1)).fit_transform(data[DENSE])
    fixlen_feature_columns = [SparseFeat(feat, vocabulary_size=1000, embedding_dim=4,
                                         use_hash=True, dtype='string') for feat in SPARSE] + [
        DenseFeat(feat, 1, ) for feat in DENSE]
    linear_feature_columns = dnn_feature_columns = fixlen_feature_columns
    feature_names = get_feature_names(linear_feature_columns + dnn_feature_columns, )
    train, test = train_test_split(data, test_size=0.2, random_state=2020)
    train_model_input = {name: train[name] for name in feature_names}
    test_model_input = {name: test[name] for name in feature_names}
    model = DeepFM(linear_feature_columns, dnn_feature_columns, task='binary')
    model.compile("adam", "binary_crossentropy", metrics=['binary_crossentropy'], )
    model.fit(train_model_input, train[target].values, batch_size=256, epochs=1, verbose=0,
              validation_split=0.2, )
    pred_ans = model.predict(test_model_input, batch_size=256, verbose=0)
    assert_probabilities(pred_ans, len(test))


# ----------------------------------------------------------------------------- MovieLens


def test_regression_movielens(movielens_sample):
    from ctr_models.models import DeepFM
    data = pd.read_csv(movielens_sample)
    target = ['rating']
    for feat in ML_SPARSE:
        data[feat] = LabelEncoder().fit_transform(data[feat])
    fixlen_feature_columns = [SparseFeat(feat, data[feat].max() + 1, embedding_dim=4)
                              for feat in ML_SPARSE]
    linear_feature_columns = dnn_feature_columns = fixlen_feature_columns
    feature_names = get_feature_names(linear_feature_columns + dnn_feature_columns)
    train, test = train_test_split(data, test_size=0.2, random_state=2020)
    train_model_input = {name: train[name].values for name in feature_names}
    test_model_input = {name: test[name].values for name in feature_names}
    model = DeepFM(linear_feature_columns, dnn_feature_columns, task='regression')
    model.compile("adam", "mse", metrics=['mse'], )
    model.fit(train_model_input, train[target].values, batch_size=256, epochs=1, verbose=0,
              validation_split=0.2, )
    pred_ans = model.predict(test_model_input, batch_size=256, verbose=0)
    assert pred_ans.shape == (len(test), 1)
    assert np.isfinite(mean_squared_error(test[target].values, pred_ans))


def test_multivalue_movielens(movielens_sample):
    from ctr_models.models import DeepFM
    data = pd.read_csv(movielens_sample)
    target = ['rating']
    for feat in ML_SPARSE:
        data[feat] = LabelEncoder().fit_transform(data[feat])
    key2index = {}

    def split(x):
        keys = x.split('|')
        for key in keys:
            if key not in key2index:
                key2index[key] = len(key2index) + 1  # 0 is padding
        return [key2index[k] for k in keys]

    genres_list = list(map(split, data['genres'].values))
    max_len = max(map(len, genres_list))
    genres_list = pad_sequences(genres_list, maxlen=max_len, padding='post', )
    use_weighted_sequence = False  # as in the example (its True branch lacks a weight column)
    fixlen_feature_columns = [SparseFeat(feat, data[feat].max() + 1, embedding_dim=4)
                              for feat in ML_SPARSE]
    varlen_feature_columns = [VarLenSparseFeat(
        SparseFeat('genres', vocabulary_size=len(key2index) + 1, embedding_dim=4),
        maxlen=max_len, combiner='mean',
        weight_name='genres_weight' if use_weighted_sequence else None)]
    linear_feature_columns = fixlen_feature_columns + varlen_feature_columns
    dnn_feature_columns = fixlen_feature_columns + varlen_feature_columns
    feature_names = get_feature_names(linear_feature_columns + dnn_feature_columns)
    model_input = {name: data[name] for name in feature_names}
    model_input["genres"] = genres_list
    model_input["genres_weight"] = np.random.randn(data.shape[0], max_len, 1)
    model = DeepFM(linear_feature_columns, dnn_feature_columns, task='regression')
    model.compile("adam", "mse", metrics=['mse'], )
    history = model.fit(model_input, data[target].values, batch_size=256, epochs=1, verbose=0,
                        validation_split=0.2, )
    assert np.isfinite(history.history["loss"][0])


def _hashed_movielens(path, vocabulary_path=None):
    data = pd.read_csv(path)
    data[ML_SPARSE] = data[ML_SPARSE].astype(str)
    genres_list = list(map(lambda x: x.split('|'), data['genres'].values))
    max_len = max(map(len, genres_list))
    genres_list = pad_sequences(genres_list, maxlen=max_len, padding='post', dtype=object,
                                value=0).astype(str)
    fixlen_feature_columns = [SparseFeat(
        feat, data[feat].nunique() * 5, embedding_dim=4, use_hash=True,
        vocabulary_path=vocabulary_path if feat == 'age' else None, dtype='string')
        for feat in ML_SPARSE]
    varlen_feature_columns = [VarLenSparseFeat(
        SparseFeat('genres', vocabulary_size=100, embedding_dim=4, use_hash=True,
                   dtype="string"), maxlen=max_len, combiner='mean', )]
    linear_feature_columns = fixlen_feature_columns + varlen_feature_columns
    dnn_feature_columns = fixlen_feature_columns + varlen_feature_columns
    feature_names = get_feature_names(linear_feature_columns + dnn_feature_columns)
    model_input = {name: data[name] for name in feature_names}
    model_input['genres'] = genres_list
    return data, model_input, linear_feature_columns, dnn_feature_columns


def test_multivalue_movielens_hash(movielens_sample):
    from ctr_models.models import DeepFM
    data, model_input, linear, dnn = _hashed_movielens(movielens_sample)
    model = DeepFM(linear, dnn, task='regression')
    model.compile("adam", "mse", metrics=['mse'], )
    history = model.fit(model_input, data[['rating']].values, batch_size=256, epochs=1,
                        verbose=0, validation_split=0.2, )
    assert np.isfinite(history.history["loss"][0])


def test_multivalue_movielens_vocab_hash(movielens_sample, tmp_path):
    from ctr_models.models import DeepFM
    # the age vocabulary file of the example: "id,key" rows, ids from 1; other ages map to 0
    vocabulary = tmp_path / "movielens_age_vocabulary.csv"
    vocabulary.write_text("".join(f"{i},{age}\n" for i, age in
                                  enumerate([1, 18, 25, 35, 45, 50, 56], start=1)))
    data, model_input, linear, dnn = _hashed_movielens(movielens_sample, str(vocabulary))
    model = DeepFM(linear, dnn, task='regression')
    model.compile("adam", "mse", metrics=['mse'], )
    history = model.fit(model_input, data[['rating']].values, batch_size=256, epochs=1,
                        verbose=0, validation_split=0.2, )
    assert np.isfinite(history.history["loss"][0])


# ----------------------------------------------------------------------------- Estimators


def _criteo_estimator_columns(vocabulary_sizes):
    dnn_feature_columns, linear_feature_columns = [], []
    for feat in SPARSE:
        dnn_feature_columns.append(tf.feature_column.embedding_column(
            tf.feature_column.categorical_column_with_identity(feat, vocabulary_sizes[feat]), 4))
        linear_feature_columns.append(
            tf.feature_column.categorical_column_with_identity(feat, vocabulary_sizes[feat]))
    for feat in DENSE:
        dnn_feature_columns.append(tf.feature_column.numeric_column(feat))
        linear_feature_columns.append(tf.feature_column.numeric_column(feat))
    return linear_feature_columns, dnn_feature_columns


def _label_encoded_criteo(path):
    data = pd.read_csv(path)
    data[SPARSE] = data[SPARSE].fillna('-1', )
    data[DENSE] = data[DENSE].fillna(0, )
    for feat in SPARSE:
        data[feat] = LabelEncoder().fit_transform(data[feat])
    data[DENSE] = MinMaxScaler(feature_range=(0, 1)).fit_transform(data[DENSE])
    return data


def test_estimator_tfrecord_classification_criteo(criteo_sample, tmp_path):
    from tensorflow.python.ops.parsing_ops import FixedLenFeature

    from ctr_models.estimator import DeepFMEstimator, RunConfig
    from ctr_models.estimator.inputs import input_fn_tfrecord
    # the example's criteo_sample.{tr,te}.tfrecords: label-encoded ids (< 1000), scaled floats
    data = _label_encoded_criteo(criteo_sample)
    paths, labels = {}, {}
    for part, rows in zip(("tr", "te"), train_test_split(data, test_size=0.2, random_state=0)):
        labels[part] = rows["label"].to_numpy()
        paths[part] = str(tmp_path / f"criteo_sample.{part}.tfrecords")
        with tf.io.TFRecordWriter(paths[part]) as writer:
            for _, row in rows.iterrows():
                feature = {k: tf.train.Feature(int64_list=tf.train.Int64List(value=[int(row[k])]))
                           for k in SPARSE}
                feature.update({k: tf.train.Feature(float_list=tf.train.FloatList(
                    value=[float(row[k])])) for k in DENSE + ['label']})
                writer.write(tf.train.Example(features=tf.train.Features(
                    feature=feature)).SerializeToString())
    linear_feature_columns, dnn_feature_columns = _criteo_estimator_columns(
        {feat: 1000 for feat in SPARSE})
    feature_description = {k: FixedLenFeature(dtype=tf.int64, shape=1) for k in SPARSE}
    feature_description.update({k: FixedLenFeature(dtype=tf.float32, shape=1) for k in DENSE})
    feature_description['label'] = FixedLenFeature(dtype=tf.float32, shape=1)
    train_model_input = input_fn_tfrecord(paths["tr"], feature_description, 'label',
                                          batch_size=256, num_epochs=1, shuffle_factor=10)
    test_model_input = input_fn_tfrecord(paths["te"], feature_description, 'label',
                                         batch_size=2 ** 14, num_epochs=1, shuffle_factor=0)
    model = DeepFMEstimator(linear_feature_columns, dnn_feature_columns, task='binary',
                            config=RunConfig(tf_random_seed=2021, run_eagerly=True))
    model.train(train_model_input)
    eval_result = model.evaluate(test_model_input)
    assert eval_result["global_step"] == 1
    # One step of training ranks no better than chance, so the check is that evaluate() scores
    # the model's own predictions of the (unshuffled) test file against its labels: the same
    # 200-threshold AUC recomputed in one pass, and sklearn's log loss.
    pred = np.array([p["pred"] for p in model.predict(test_model_input)])
    assert_probabilities(pred, len(labels["te"]))
    reference_auc = tf.keras.metrics.AUC(num_thresholds=200)
    reference_auc.update_state(labels["te"].reshape(-1, 1), pred)
    np.testing.assert_allclose(eval_result["AUC"], float(reference_auc.result()), rtol=1e-6)
    np.testing.assert_allclose(eval_result["LogLoss"], log_loss(labels["te"], pred[:, 0]),
                               rtol=1e-4)


def test_estimator_pandas_classification_criteo(criteo_sample):
    from ctr_models.estimator import DeepFMEstimator, RunConfig
    from ctr_models.estimator.inputs import input_fn_pandas
    data = _label_encoded_criteo(criteo_sample)
    target = ['label']
    linear_feature_columns, dnn_feature_columns = _criteo_estimator_columns(
        {feat: data[feat].max() + 1 for feat in SPARSE})
    train, test = train_test_split(data, test_size=0.2, random_state=2021)
    train_model_input = input_fn_pandas(train, SPARSE + DENSE, 'label', shuffle=True)
    test_model_input = input_fn_pandas(test, SPARSE + DENSE, None, shuffle=False)
    model = DeepFMEstimator(linear_feature_columns, dnn_feature_columns, task='binary',
                            config=RunConfig(tf_random_seed=2021, run_eagerly=True))
    model.train(train_model_input)
    pred_ans = list(map(lambda x: x['pred'], model.predict(test_model_input)))
    assert_probabilities(pred_ans, len(test))
    assert np.isfinite(log_loss(test[target].values, pred_ans))


# ----------------------------------------------------------------------------- MTL (MMOE)


def test_mtl_mmoe_census(tmp_path):
    needs("MMOE")
    from ctr_models.models import MMOE
    write_census(str(tmp_path), rows=200, seed=1)
    column_names = ['age', 'class_worker', 'det_ind_code', 'det_occ_code', 'education',
                    'wage_per_hour', 'hs_college', 'marital_stat', 'major_ind_code',
                    'major_occ_code', 'race', 'hisp_origin', 'sex', 'union_member',
                    'unemp_reason', 'full_or_part_emp', 'capital_gains', 'capital_losses',
                    'stock_dividends', 'tax_filer_stat', 'region_prev_res', 'state_prev_res',
                    'det_hh_fam_stat', 'det_hh_summ', 'instance_weight', 'mig_chg_msa',
                    'mig_chg_reg', 'mig_move_reg', 'mig_same', 'mig_prev_sunbelt', 'num_emp',
                    'fam_under_18', 'country_father', 'country_mother', 'country_self',
                    'citizenship', 'own_or_self', 'vet_question', 'vet_benefits',
                    'weeks_worked', 'year', 'income_50k']
    data = pd.read_csv(tmp_path / 'census-income.sample', header=None, names=column_names)
    data['label_income'] = data['income_50k'].map({' - 50000.': 0, ' 50000+.': 1})
    data['label_marital'] = data['marital_stat'].apply(lambda x: 1 if x == ' Never married'
                                                       else 0)
    assert data['label_income'].notna().all()
    data.drop(labels=['income_50k', 'marital_stat'], axis=1, inplace=True)
    sparse_features = ['class_worker', 'det_ind_code', 'det_occ_code', 'education',
                       'hs_college', 'major_ind_code', 'major_occ_code', 'race', 'hisp_origin',
                       'sex', 'union_member', 'unemp_reason', 'full_or_part_emp',
                       'tax_filer_stat', 'region_prev_res', 'state_prev_res', 'det_hh_fam_stat',
                       'det_hh_summ', 'mig_chg_msa', 'mig_chg_reg', 'mig_move_reg', 'mig_same',
                       'mig_prev_sunbelt', 'fam_under_18', 'country_father', 'country_mother',
                       'country_self', 'citizenship', 'vet_question']
    dense_features = [col for col in data.columns if col not in sparse_features
                      and col not in ['label_income', 'label_marital']]
    data[sparse_features] = data[sparse_features].fillna('-1', )
    data[dense_features] = data[dense_features].fillna(0, )
    data[dense_features] = MinMaxScaler(feature_range=(0, 1)).fit_transform(data[dense_features])
    for feat in sparse_features:
        data[feat] = LabelEncoder().fit_transform(data[feat])
    # the example's `+ [DenseFeat...]` sits on its own line, so only the sparse columns are used
    fixlen_feature_columns = [SparseFeat(feat, data[feat].max() + 1, embedding_dim=4)
                              for feat in sparse_features]
    dnn_feature_columns = linear_feature_columns = fixlen_feature_columns
    feature_names = get_feature_names(linear_feature_columns + dnn_feature_columns)
    train, test = train_test_split(data, test_size=0.2, random_state=2020)
    train_model_input = {name: train[name] for name in feature_names}
    test_model_input = {name: test[name] for name in feature_names}
    model = MMOE(dnn_feature_columns, tower_dnn_hidden_units=[], task_types=['binary', 'binary'],
                 task_names=['label_income', 'label_marital'])
    model.compile("adam", loss=["binary_crossentropy", "binary_crossentropy"],
                  metrics=['binary_crossentropy'], )
    model.fit(train_model_input, [train['label_income'].values, train['label_marital'].values],
              batch_size=256, epochs=1, verbose=0, validation_split=0.2)
    pred_ans = model.predict(test_model_input, batch_size=256, verbose=0)
    assert len(pred_ans) == 2
    for pred in pred_ans:
        assert_probabilities(pred, len(test))


# ----------------------------------------------------------------------------- FLEN (Avazu)


def test_flen_avazu():
    needs("FLEN")
    from ctr_models.models import FLEN
    # avazu_sample.txt's layout: id, click, hour (YYMMDDHH), then categorical columns
    rng = np.random.default_rng(0)
    n = 200
    data = pd.DataFrame({'id': np.arange(n), 'click': rng.integers(0, 2, n),
                         'hour': 14102100 + rng.integers(0, 24, n)})
    for col, k in [('C1', 4), ('banner_pos', 3), ('site_id', 20), ('site_domain', 20),
                   ('site_category', 6), ('app_id', 20), ('app_domain', 10),
                   ('app_category', 6), ('device_id', 30), ('device_ip', 50),
                   ('device_model', 25), ('device_type', 3), ('device_conn_type', 3),
                   ('C14', 30), ('C15', 3), ('C16', 3), ('C17', 20), ('C18', 4), ('C19', 8),
                   ('C20', 10), ('C21', 10)]:
        data[col] = [f"{col}_{v}" for v in rng.integers(0, k, n)]
    data['day'] = data['hour'].apply(lambda x: str(x)[4:6])
    data['hour'] = data['hour'].apply(lambda x: str(x)[6:])
    sparse_features = ['hour', 'C1', 'banner_pos', 'site_id', 'site_domain', 'site_category',
                       'app_id', 'app_domain', 'app_category', 'device_id', 'device_model',
                       'device_type', 'device_conn_type', 'C14', 'C15', 'C16', 'C17', 'C18',
                       'C19', 'C20', 'C21', ]
    data[sparse_features] = data[sparse_features].fillna('-1', )
    target = ['click']
    for feat in sparse_features:
        data[feat] = LabelEncoder().fit_transform(data[feat])
    field_info = dict(C14='user', C15='user', C16='user', C17='user', C18='user', C19='user',
                      C20='user', C21='user', C1='user', banner_pos='context',
                      site_id='context', site_domain='context', site_category='context',
                      app_id='item', app_domain='item', app_category='item',
                      device_model='user', device_type='user', device_conn_type='context',
                      hour='context', device_id='user')
    fixlen_feature_columns = [
        SparseFeat(name, vocabulary_size=data[name].max() + 1, embedding_dim=16, use_hash=False,
                   dtype='int32', group_name=field_info[name]) for name in sparse_features]
    dnn_feature_columns = linear_feature_columns = fixlen_feature_columns
    feature_names = get_feature_names(linear_feature_columns + dnn_feature_columns)
    train, test = train_test_split(data, test_size=0.2, random_state=2020)
    train_model_input = {name: train[name] for name in feature_names}
    test_model_input = {name: test[name] for name in feature_names}
    model = FLEN(linear_feature_columns, dnn_feature_columns, task='binary')
    model.compile("adam", "binary_crossentropy", metrics=['binary_crossentropy'], )
    model.fit(train_model_input, train[target].values, batch_size=256, epochs=1, verbose=0,
              validation_split=0.2, )
    pred_ans = model.predict(test_model_input, batch_size=256, verbose=0)
    assert_probabilities(pred_ans, len(test))


# ----------------------------------------------------------------------------- DIN / DIEN / DSIN


def _behaviour_columns(item, hash_flag=False):
    return [SparseFeat('user', 3, embedding_dim=10, use_hash=hash_flag),
            SparseFeat('gender', 2, embedding_dim=4, use_hash=hash_flag),
            SparseFeat(item, 3 + 1, embedding_dim=8, use_hash=hash_flag),
            SparseFeat('cate_id', 2 + 1, embedding_dim=4, use_hash=hash_flag),
            DenseFeat('pay_score', 1)]


def _din_dien_xy(use_neg=False):
    feature_columns = _behaviour_columns('item_id') + [
        VarLenSparseFeat(SparseFeat('hist_item_id', vocabulary_size=3 + 1, embedding_dim=8,
                                    embedding_name='item_id'), maxlen=4, length_name="seq_length"),
        VarLenSparseFeat(SparseFeat('hist_cate_id', 2 + 1, embedding_dim=4,
                                    embedding_name='cate_id'), maxlen=4, length_name="seq_length")]
    feature_dict = {'user': np.array([0, 1, 2]), 'gender': np.array([0, 1, 0]),
                    'item_id': np.array([1, 2, 3]), 'cate_id': np.array([1, 2, 2]),
                    'hist_item_id': np.array([[1, 2, 3, 0], [3, 2, 1, 0], [1, 2, 0, 0]]),
                    'hist_cate_id': np.array([[1, 2, 2, 0], [2, 2, 1, 0], [1, 2, 0, 0]]),
                    'pay_score': np.array([0.1, 0.2, 0.3]), 'seq_length': np.array([3, 3, 2])}
    if use_neg:
        feature_dict['neg_hist_item_id'] = np.array([[1, 2, 3, 0], [1, 2, 3, 0], [1, 2, 0, 0]])
        feature_dict['neg_hist_cate_id'] = np.array([[1, 2, 2, 0], [1, 2, 2, 0], [1, 2, 0, 0]])
        feature_columns += [
            VarLenSparseFeat(SparseFeat('neg_hist_item_id', vocabulary_size=3 + 1,
                                        embedding_dim=8, embedding_name='item_id'),
                             maxlen=4, length_name="seq_length"),
            VarLenSparseFeat(SparseFeat('neg_hist_cate_id', 2 + 1, embedding_dim=4,
                                        embedding_name='cate_id'),
                             maxlen=4, length_name="seq_length")]
    x = {name: feature_dict[name] for name in get_feature_names(feature_columns)}
    return x, np.array([1, 0, 1]), feature_columns, ["item_id", "cate_id"]


def test_din():
    needs("DIN")
    from ctr_models.models import DIN
    x, y, feature_columns, behavior_feature_list = _din_dien_xy()
    model = DIN(feature_columns, behavior_feature_list)
    model.compile('adam', 'binary_crossentropy', metrics=['binary_crossentropy'])
    history = model.fit(x, y, verbose=0, epochs=1, validation_split=0.5)
    assert np.isfinite(history.history["loss"][0])


def test_dien_with_negative_sampling():
    needs("DIEN")
    from ctr_models.models import DIEN
    x, y, feature_columns, behavior_feature_list = _din_dien_xy(use_neg=True)
    model = DIEN(feature_columns, behavior_feature_list, dnn_hidden_units=[4, 4, 4],
                 dnn_dropout=0.6, gru_type="AUGRU", use_negsampling=True)
    model.compile('adam', 'binary_crossentropy', metrics=['binary_crossentropy'])
    history = model.fit(x, y, verbose=0, epochs=1, validation_split=0.5)
    assert np.isfinite(history.history["loss"][0])


def test_dsin_with_hashing():
    needs("DSIN")
    from ctr_models.models import DSIN
    hash_flag = True
    feature_columns = _behaviour_columns('item', hash_flag)
    feature_columns[2] = SparseFeat('item', 3 + 1, embedding_dim=4, use_hash=hash_flag)
    for i in range(2):
        feature_columns += [
            VarLenSparseFeat(SparseFeat(f'sess_{i}_item', 3 + 1, embedding_dim=4,
                                        use_hash=hash_flag, embedding_name='item'), maxlen=4),
            VarLenSparseFeat(SparseFeat(f'sess_{i}_cate_id', 2 + 1, embedding_dim=4,
                                        use_hash=hash_flag, embedding_name='cate_id'),
                             maxlen=4)]
    feature_dict = {'user': np.array([0, 1, 2]), 'gender': np.array([0, 1, 0]),
                    'item': np.array([1, 2, 3]), 'cate_id': np.array([1, 2, 2]),
                    'pay_score': np.array([0.1, 0.2, 0.3]),
                    'sess_0_item': np.array([[1, 2, 3, 0], [3, 2, 1, 0], [0, 0, 0, 0]]),
                    'sess_0_cate_id': np.array([[1, 2, 2, 0], [2, 2, 1, 0], [0, 0, 0, 0]]),
                    'sess_1_item': np.array([[1, 2, 3, 0], [0, 0, 0, 0], [0, 0, 0, 0]]),
                    'sess_1_cate_id': np.array([[1, 2, 2, 0], [0, 0, 0, 0], [0, 0, 0, 0]])}
    x = {name: feature_dict[name] for name in get_feature_names(feature_columns)}
    x["sess_length"] = np.array([2, 1, 0])
    y = np.array([1, 0, 1])
    model = DSIN(feature_columns, ["item", "cate_id"], sess_max_count=2,
                 dnn_hidden_units=[4, 4, 4], dnn_dropout=0.5, )
    model.compile('adam', 'binary_crossentropy', metrics=['binary_crossentropy'])
    history = model.fit(x, y, verbose=0, epochs=1, validation_split=0.5)
    assert np.isfinite(history.history["loss"][0])
