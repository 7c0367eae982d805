"""The JSX that "Copy web props" and `export-web` write for @depthstudio/react (no Node needed: text checks; the
generated example is type-checked by tsc in tests/test_react_package.py)."""

from __future__ import annotations

from depthstudio.render.params import ShaderParams
from depthstudio.render.react_export import jsx_snippet, react_example


def test_the_snippet_imports_the_package_and_passes_every_prop():
    props = {"originalImg": "https://cdn/a.jpg", "depthImg": "https://cdn/a.png", **ShaderParams().web_props()}
    text = jsx_snippet(props)
    assert text.startswith(
        'import DepthAvatar from "@depthstudio/react";\n\n<DepthAvatar\n  originalImg={"https://cdn/a.jpg"}'
    )
    assert "  horizontalThreshold={35.0}\n" in text and '  respondTo={"mouseMove"}\n' in text
    assert "reverseMotion" not in text and "layered" not in text  # false: the default, left out
    assert "reverseMotion\n" in jsx_snippet({**props, "reverseMotion": True})


def test_a_strangers_name_and_url_stay_strings():
    hostile = '"}/><script>alert(1)</script>{"'
    text = jsx_snippet({"originalImg": hostile, "alt": "Zoë </DepthAvatar> {x}"})
    assert 'originalImg={"\\"}/><script>alert(1)</script>{\\""}' in text  # a JSON string: quotes escaped
    assert 'alt={"Zoë </DepthAvatar> {x}"}' in text


def test_the_example_lists_users_with_their_files_under_the_base_url():
    users = [
        {"id": "1", "name": "Ada", "folder": "u1", "props": {"originalImg": "photo.png", "depthImg": "depth.png"}},
        {"id": "2", "name": None, "folder": "u2", "props": {"originalImg": "photo.png"}},
    ]
    text = react_example(users, base_url="/static/avatars")
    assert 'originalImg={"/static/avatars/users/u1/photo.png"}' in text
    assert 'depthImg={"/static/avatars/users/u1/depth.png"}' in text and 'alt={"Ada"}' in text
    assert text.count("<DepthAvatar\n") == 2
