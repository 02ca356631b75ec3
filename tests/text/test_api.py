"""The public API of bot.text: normalisation, tokens, intent, department, topic words and ranking."""

from __future__ import annotations

import json

import numpy as np
import pytest

from bot.text import Prediction, RankDoc, Ranked, TemplateRanker, TextAnalyzer
from bot.text.bm25 import BM25Index
from bot.text.linear import LinearSVM, LogisticRegression
from bot.text.model import TextModel, train
from bot.text.normalise import MAX_ANALYSED_CHARS, normalise

CHATTER = [
    "收到",
    "收到！",
    "好的",
    "好的👍",
    "谢谢",
    "谢谢领导",
    "哈哈哈哈",
    "😂😂😂",
    "[强][强]",
    "大家早上好",
    "早",
    "晚安",
    "辛苦了",
    "嗯嗯",
    "ok",
    "OK👌",
    "+1",
    "明白了",
    "中秋快乐！",
    "",
    "   ",
]

ACTIONABLE = {
    "请问小区停水什么时候能恢复？": "question",
    "社保卡丢了怎么补办": "question",
    "建议在学校门口增设红绿灯": "suggestion",
    "希望社区多组织一些老年人活动": "suggestion",
    "楼下饭店半夜噪音扰民，多次反映没人管": "complaint",
    "公司拖欠工资三个月了，求助": "complaint",
}


@pytest.fixture(scope="module")
def analyzer() -> TextAnalyzer:
    return TextAnalyzer(
        departments={"住建局": ["物业", "小区", "电梯"], "交通局": ["公交", "地铁"]}
    )


def test_normalise(analyzer: TextAnalyzer) -> None:
    assert analyzer.normalise("請問　ＡＢＣ１２３  這裡\n噪音") == "请问 abc123 这里 噪音"


def test_tokens_drop_stop_words_and_punctuation(analyzer: TextAnalyzer) -> None:
    toks = analyzer.tokens("請問小區門口的噪音問題什麼時候能解決？😀")
    assert "小区" in toks and "噪音" in toks
    assert "的" not in toks and "？" not in toks and "?" not in toks and "😀" not in toks


@pytest.mark.parametrize("text", CHATTER)
def test_chatter_is_never_actionable(analyzer: TextAnalyzer, text: str) -> None:
    assert analyzer.intent(text).label == "chatter"


@pytest.mark.parametrize(("text", "label"), ACTIONABLE.items())
def test_actionable_messages(analyzer: TextAnalyzer, text: str, label: str) -> None:
    pred = analyzer.intent(text)
    assert isinstance(pred, Prediction)
    assert pred.label == label
    assert 0.0 <= pred.confidence <= 1.0


@pytest.mark.parametrize("text", [*ACTIONABLE, *CHATTER[:8]])
def test_traditional_gives_same_label(analyzer: TextAnalyzer, text: str) -> None:
    import opencc

    traditional = opencc.OpenCC("s2t").convert(text)
    assert analyzer.intent(traditional).label == analyzer.intent(text).label


def test_department_keywords(analyzer: TextAnalyzer) -> None:
    assert analyzer.department("小區電梯壞了").label == "住建局"
    assert analyzer.department("公交线路调整").label == "交通局"
    unknown = analyzer.department("今天天气不错")
    assert unknown.label == "" and not unknown.confident


def test_a_keyword_inside_a_longer_one_counts_for_its_own_department_too() -> None:
    analyzer = TextAnalyzer(
        departments={"环卫": ["垃圾"], "分类办": ["垃圾分类"], "公安": ["噪音"]}
    )
    found = analyzer.department("垃圾分类做得不好")
    # 垃圾 (1.25) and 垃圾分类 (1.75) both count: 分类办 wins with 1.75 / (1.75 + 1.25 + 0.5)
    assert found == Prediction("分类办", 0.5, True)
    assert analyzer.department("门口的垃圾没人收").label == "环卫"
    assert analyzer.department("今天天气不错").label == ""


def test_topic_words(analyzer: TextAnalyzer) -> None:
    words = analyzer.topic_words(["小区停水了", "小区又停水", "停电了"], k=2)
    assert words == [("停水", 2), ("停电", 1)]  # 小区 is in every community message: no topic


def test_topic_words_skip_what_every_question_says(analyzer: TextAnalyzer) -> None:
    texts = ["电梯什么时候修好？", "请问停车位为什么不能增加", "停车位什么时候规划", "电梯又坏了"]
    words = [w for w, _ in analyzer.topic_words(texts, k=3)]
    assert words[:2] == ["停车位", "电梯"]
    assert not {"时候", "什么时候", "不能", "请问", "为什么"} & set(words)


def test_ranker_best_first_and_hints(analyzer: TextAnalyzer) -> None:
    docs = [
        RankDoc("water", "停水通知：小区停水检修，预计明天恢复供水", intent="question"),
        RankDoc("bus", "公交线路调整说明", department="交通局"),
        RankDoc("noise", "噪音扰民投诉处理流程", intent="complaint"),
    ]
    ranker = TemplateRanker(analyzer, docs)
    top = ranker.rank("小區什麼時候恢復供水", k=3)
    assert top and top[0] == Ranked("water", top[0].score)
    assert ranker.rank("", k=3) == []
    assert ranker.rank("   ") == []
    plain = {r.id: r.score for r in ranker.rank("线路 流程", k=3)}
    hinted = {r.id: r.score for r in ranker.rank("线路 流程", k=3, department="交通局")}
    assert hinted["bus"] > plain["bus"] and hinted["noise"] == plain["noise"]
    assert {r.id for r in ranker.rank("公交 噪音", k=3, intent="question")} >= {"bus", "noise"}


def test_equal_templates_are_suggested_in_their_order(analyzer: TextAnalyzer) -> None:
    docs = [
        RankDoc(str(i), "停水通知：小区停水检修" if i % 3 else "公交线路调整") for i in range(9)
    ]
    ranker = TemplateRanker(analyzer, docs)
    assert [r.id for r in ranker.rank("小区停水", k=4)] == ["1", "2", "4", "5"]
    assert [r.id for r in ranker.rank("小区停水", k=20)] == ["1", "2", "4", "5", "7", "8"]


def test_a_long_query_selects_the_terms_a_short_one_would() -> None:
    docs = [[7, 8, 9], [9, 10], [11, 7, 7], [12]]
    index = BM25Index(docs)
    query = [13, 9, 7, 9, 12, 14, 7] * 20  # long enough to be counted by numpy
    assert index.select(np.asarray(query)) == index.select(query) == [(2, 40), (0, 40), (5, 20)]
    assert index.select(np.asarray(query), max_terms=1) == index.select(query, max_terms=1)


def test_single_characters_refine_but_never_start_a_match(analyzer: TextAnalyzer) -> None:
    docs = [RankDoc("permit", "办理换证手续"), RankDoc("card", "办理补卡手续")]
    ranker = TemplateRanker(analyzer, docs)
    # Both share 手续 with the question; 补办 shares no word and no bigram with 补卡, only the
    # character 补, and that decides.
    assert [r.id for r in ranker.rank("补办手续", k=2)] == ["card", "permit"]
    # Characters alone (办, 卡, ASCII) are no evidence: nothing is suggested.
    assert ranker.rank("卡办 x 7", k=2) == []


def test_bm25_matches_rank_bm25() -> None:
    rank_bm25 = pytest.importorskip("rank_bm25")
    docs = [["小区", "停水"], ["公交", "线路", "调整"], ["停水", "通知", "停水"], ["噪音"]] * 3
    ours = BM25Index(docs, idf="okapi")
    ref = rank_bm25.BM25Okapi(docs)
    for query in (["停水"], ["公交", "噪音"], ["没有"]):
        assert list(ours.scores(query)) == pytest.approx(list(ref.get_scores(query)))


def test_bm25_sums_terms_and_keeps_rarest_terms() -> None:
    docs = [["小区", "停水"], ["公交", "线路", "调整"], ["停水", "通知", "停水"], ["噪音", "小区"]]
    index = BM25Index(docs)
    query = ["停水", "小区", "停水", "噪音", "没有"]
    by_term = sum(index.scores([t]) for t in query)
    assert list(index.scores(query)) == pytest.approx(list(by_term))
    out = np.ones(len(docs))
    index.add_scores(out, query, 0.5)
    assert list(out) == pytest.approx(list(1.0 + 0.5 * by_term))
    # with one term allowed, only the rarest (highest IDF) one is scored: 噪音 is in one document
    assert list(index.add_scores(np.zeros(len(docs)), query, 1.0, max_terms=1)) == pytest.approx(
        list(index.scores(["噪音"]))
    )


def test_bad_model_file(tmp_path) -> None:
    bad = tmp_path / "model.npz"
    bad.write_text("not a model")
    with pytest.raises(ValueError, match=r"model\.npz"):
        TextAnalyzer(intent_model=bad)
    with pytest.raises(ValueError, match=r"missing\.npz"):
        TextAnalyzer(department_model=tmp_path / "missing.npz")


SMALL_HISTORY = [
    ("小区停水了什么时候恢复", "question"),
    ("请问社保卡在哪里补办", "question"),
    ("公交几点停运", "question"),
    ("建议增设夜间公交线路", "suggestion"),
    ("希望小区多装几个快递柜", "suggestion"),
    ("建议路口加个红绿灯", "suggestion"),
    ("楼下烧烤油烟太大没法开窗", "complaint"),
    ("半夜施工太吵了", "complaint"),
    ("物业乱收费没人管", "complaint"),
]


def _rewrite_header(path, **changes) -> None:
    with np.load(path, allow_pickle=False) as data:
        arrays = {key: data[key] for key in data.files}
    header = {**json.loads(str(arrays["header"])), **changes}
    arrays["header"] = np.asarray(json.dumps({k: v for k, v in header.items() if v is not None}))
    with path.open("wb") as fh:
        np.savez_compressed(fh, **arrays)


@pytest.mark.parametrize("classifier", ["svm", "logistic"])
def test_saved_model_predicts_as_trained(tmp_path, classifier: str) -> None:
    texts = [normalise(t) for t, _ in SMALL_HISTORY]
    model = train("intent", texts, [label for _, label in SMALL_HISTORY], classifier=classifier)
    if isinstance(model.classifier, LinearSVM):
        model.classifier.proba_scale = 5.0  # not the default: the file must carry it
    loaded = TextModel.load(model.save(tmp_path / "intent"))
    assert type(loaded.classifier) is type(model.classifier)
    assert loaded.predict_many(texts) == model.predict_many(texts)


def test_format_1_file_still_loads_as_softmax_regression(tmp_path) -> None:
    texts = [normalise(t) for t, _ in SMALL_HISTORY]
    model = train("intent", texts, [label for _, label in SMALL_HISTORY], classifier="logistic")
    path = model.save(tmp_path / "old.npz")
    # what format 1 wrote: no classifier name in the header
    _rewrite_header(path, format="minyi-text-model/1", classifier=None)
    loaded = TextModel.load(path)
    assert isinstance(loaded.classifier, LogisticRegression)
    assert loaded.predict_many(texts) == model.predict_many(texts)
    _rewrite_header(path, format="minyi-text-model/2", classifier="forest")
    with pytest.raises(ValueError, match="unknown classifier 'forest'"):
        TextModel.load(path)


def test_only_the_start_of_a_very_long_message_is_analysed():
    analyzer = TextAnalyzer()
    start = "请问小区电梯坏了什么时候能修好？"
    long = start + "哈" * (MAX_ANALYSED_CHARS * 50)
    head = long[:MAX_ANALYSED_CHARS]
    assert analyzer.intent(long) == analyzer.intent(head)
    assert analyzer.department(long) == analyzer.department(head)
    assert analyzer.tokens(long) == analyzer.tokens(head)
    assert analyzer.topic(long) == analyzer.topic(head) is not None


def test_classifying_reads_the_vectors_training_made() -> None:
    # Classification builds TF-IDF rows without feature strings (Vectorizer.rows); they must be the
    # vectors training computed, or a saved model would classify differently from the one trained.
    model = train(
        "intent", [normalise(t) for t, _ in SMALL_HISTORY], [lb for _, lb in SMALL_HISTORY]
    )
    texts = [
        normalise(t)
        for t in [
            *[t for t, _ in SMALL_HISTORY],
            "請問3號樓電梯什麼時候修好？？",
            "ＯＫ！wifi 没信号!",
            "😂😂😂",
            "",
            "a",
            "好" * 500,
        ]
    ]
    fast = model.vectorizer.rows(texts).tocsr().toarray()
    assert np.allclose(fast, model.vectorizer.transform(texts).toarray(), atol=1e-12)
    assert fast[texts.index("")].sum() == 0.0
