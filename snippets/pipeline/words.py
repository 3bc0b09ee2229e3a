"""The words the build writes into a page around the code, in the page's language.

A translated page shares the English page's code and outputs, but the labels, links and notes
that the build adds (the output's title, the runnable copy's link and tooltip, the copy's
header comments, the verification page's reports) are read with the page, so they follow its
language. A language missing here gets the English words.
"""

from __future__ import annotations

import textwrap
import unicodedata

from .translations import language_of

WORDS = {
    "en": {
        "output": "Output",
        "figure": "Figure drawn by {example}",
        "error": "This example raised an error",
        "drifted": "Output drifted from its record",
        "needs": "the imports and settings it needs",
        "needs_and": "the imports and settings it needs, and {names}",
        "tooltip": "Copy a version that runs on its own: {added}",
        "runs_alone": "Runs on its own: {link}, this block after {added}.",
        "not_alone": "Does not run on its own: {why}.",
        "unshown": "it uses code the page does not show: {lines}",
        "header": '{name}: an example of "{title}", on its own',
        "header_text": ("The example's block comes last; above it, from other blocks of the page, what "
                        "it uses: {added}. Run it with python (it needs torch, numpy and matplotlib): it "
                        "prints what the page shows under the block."),
        "data_where": "It reads {file}, which the site has beside this file: {url}",
        "data_save": ("Save it as {file} next to this file (in the working directory when you paste the "
                      "code into an interactive session or a notebook). Nothing is downloaded."),
        "script_intro": "Every code block of {url} in page order.",
        "script_run": ("Run it with python (it needs torch, numpy and matplotlib): each block prints what "
                       "the page shows under it."),
        "notebook_intro": ("Every code block of [{title}]({url}), in page order. Run the cells top to bottom; "
                           "each prints what the page shows under it."),
        "notebook_data": ("It reads `{file}`: save [{file}]({url}) (the site has it beside this notebook) as "
                          "`{file}` in the folder the notebook runs in. Nothing is downloaded."),
        "alone_count": "{alone} of the {shown} examples shown on the pages have a copy that runs on its own.",
        "alone_table": "| Example | Why it does not run on its own |",
        "built_with": "| Built with | Version |",
        "summary": ("{examples} examples, {seconds:.2f} s of running in all; {cached} recalled from the "
                    "cache, {drifted} drifted, {failed} failed."),
        "table": "| Example | Page | Time (s) | Ran in this build | Result |",
        "yes": "yes", "no_cached": "no (cached)", "records_only": "no (records only)", "not_shown": "not shown",
        "failed": "failed", "drifted_short": "drifted", "matches": "matches its record",
        "older": "Under torch {releases}",
    },
    "ja": {
        "output": "出力",
        "figure": "{example} が描いた図",
        "error": "この例はエラーを出しました",
        "drifted": "出力が記録と食い違っています",
        "needs": "必要な import と設定",
        "needs_and": "必要な import と設定、および {names}",
        "tooltip": "単独で動く版をコピー: {added}",
        "runs_alone": "単独で動く版: {link}（このブロックの前に、{added} を置いたもの）",
        "not_alone": "単独では動きません: {why}。",
        "unshown": "ページに示していないコードを使っています: {lines}",
        "header": "{name}: 「{title}」の例を単独で動くようにしたもの",
        "header_text": ("例のブロックは最後にあります。その上には、ページのほかのブロックから、このブロックが使う"
                        "もの（{added}）を置いています。python で実行すると（torch、numpy、matplotlib が必要"
                        "です）、ページがブロックの下に示すものを出力します。"),
        "data_where": "{file} を読み込みます。サイトではこのファイルの隣にあります: {url}",
        "data_save": ("このファイルと同じ場所に {file} として保存してください。対話セッションやノートブックに"
                      "貼り付けるときは、作業ディレクトリに置きます。何もダウンロードしません。"),
        "script_intro": "{url} のコードブロックをすべて、ページの順に並べたものです。",
        "script_run": ("python で実行すると（torch、numpy、matplotlib が必要です）、各ブロックがページで"
                       "その下に示されているものを出力します。"),
        "notebook_intro": ("[{title}]({url}) のコードブロックをすべて、ページの順に並べたものです。セルを上から"
                           "順に実行すると、それぞれがページでその下に示されているものを出力します。"),
        "notebook_data": ("`{file}` を読み込みます。[{file}]({url})（サイトではこのノートブックの隣にあります）を、"
                          "ノートブックを実行するフォルダーに `{file}` として保存してください。何もダウンロードしません。"),
        "alone_count": "ページに示している {shown} 個の例のうち {alone} 個に、単独で動く版があります。",
        "alone_table": "| 例 | 単独では動かない理由 |",
        "built_with": "| ビルドに使ったもの | バージョン |",
        "summary": ("例 {examples} 個、実行時間は合計 {seconds:.2f} 秒。キャッシュから {cached} 個、"
                    "記録との食い違い {drifted} 個、失敗 {failed} 個。"),
        "table": "| 例 | ページ | 時間（秒） | このビルドで実行 | 結果 |",
        "yes": "はい", "no_cached": "いいえ（キャッシュ）", "records_only": "いいえ（記録のみ）", "not_shown": "表示なし",
        "failed": "失敗", "drifted_short": "食い違い", "matches": "記録と一致",
        "older": "torch {releases} での出力",
    },
}


def words(page_uri: str | None = None) -> dict[str, str]:
    """The build's words for a page (by its docs path), English for an English page.

    Examples:
        >>> words("training-loop.ja.md")["output"], words("training-loop.md")["output"]
        ('出力', 'Output')
        >>> all(set(said) == set(WORDS["en"]) for said in WORDS.values())  # every language says it all
        True
    """
    return WORDS.get(_language(page_uri) or "en", WORDS["en"])


def wrap_comment(text: str, page_uri: str | None = None, width: int = 78) -> list[str]:
    """``text`` as comment lines of at most ``width`` columns; Japanese, which has no spaces to
    break at, is broken after its sentences and commas (a CJK character takes two columns).

    Examples:
        >>> wrap_comment("one two three", width=9)
        ['# one two', '# three']
        >>> wrap_comment("あいう。えお、かき。", "a.ja.md", width=10)
        ['# あいう。', '# えお、', '# かき。']
    """
    if not _language(page_uri):
        return textwrap.wrap(text, width, initial_indent="# ", subsequent_indent="# ", break_on_hyphens=False)
    lines, line = [], ""
    for piece in _pieces(text):
        if line and _columns("# " + line + piece) > width:
            lines.append("# " + line.rstrip())
            line = ""
        line += piece
    return lines + (["# " + line.rstrip()] if line else [])


def _pieces(text: str) -> list[str]:
    """Japanese text cut after each 。 and 、 (and at spaces), where a line may break."""
    pieces, piece = [], ""
    for character in text:
        piece += character
        if character in "。、 ":
            pieces.append(piece)
            piece = ""
    return pieces + ([piece] if piece else [])


def _columns(text: str) -> int:
    """Columns a line takes in a terminal: two for a wide (CJK) character."""
    return sum(2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in text)


def _language(page_uri: str | None) -> str | None:
    return language_of(page_uri)[1] if page_uri else None
