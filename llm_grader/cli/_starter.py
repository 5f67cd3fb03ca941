"""The starter card ``rubric init`` writes when no built-in card is named (``--from``)."""

from __future__ import annotations

STARTER = """\
# A starter QA card (质检评分卡), written by `llm-grader rubric init`.
# Edit it, then check it: `llm-grader rubric check {file}`; try it on conversations with
# `llm-grader grade CONVERSATIONS -r {file} --rules-only` (the rule items) or with a model.
# Field by field: `llm-grader rubric schema -o rubric.schema.json` (for editors) and docs/rubrics.md.
id: {id}
name: 我的质检评分卡
version: "0.1"
language: zh
description: "起步用的评分卡:一个规则项(开头语)、两个模型项(礼貌用语、解答准确),共30分。"
max_score: 30

categories:
  - id: etiquette
    name: 服务礼仪
    max_points: 20
    items:
      # A rule item: decided from the text, no model call (exact, free, repeatable).
      - id: greeting
        name: 开头语
        judge: rule
        points: 10
        description: "客服前2轮发言中有问候语(您好/你好)。"
        tiers:
          - {{id: good, label: 好, points: 10, description: "有问候语。"}}
          - {{id: poor, label: 差, points: 0, description: "没有问候语。"}}
        rule:
          type: phrases
          phrases:
            - ["您好", "你好"]
          window: {{first: 2}}
          thresholds:
            - {{min: 1, tier: good}}
            - {{tier: poor}}
      # A model item: each tier's description is what the model grades against.
      - id: politeness
        name: 礼貌用语
        judge: model
        points: 10
        description: "客服是否恰当使用“您”“请”“谢谢”等礼貌用语。"
        tiers:
          - {{id: good, label: 好, points: 10, description: "礼貌用语使用恰当、自然。"}}
          - {{id: fair, label: 一般, points: 6, description: "基本礼貌,个别地方欠缺礼貌用语。"}}
          - {{id: poor, label: 差, points: 0, description: "语气生硬或不礼貌,影响客户感知。"}}

  - id: competence
    name: 业务能力
    max_points: 10
    items:
      - id: answer_accuracy
        name: 解答准确
        judge: model
        points: 10
        scale: binary
        description: "客服对客户问题的解答准确、完整,没有错误信息。"
"""
"""A small card in Chinese (one rule item, two model items) that passes ``rubric check``;
``{id}`` and ``{file}`` are filled in."""
