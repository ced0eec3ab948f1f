"""Interface strings, Simplified Chinese first, with English; zh-CN number and date formats."""

from __future__ import annotations

import datetime as dt

SHANGHAI = dt.timezone(dt.timedelta(hours=8), "Asia/Shanghai")

STRINGS: dict[str, tuple[str, str]] = {
    "app_title": ("萧山区一张网 · 基层治理态势感知", "Xiaoshan One-Network · Grid Governance Situation"),
    "wall_title": ("萧山区基层治理态势感知", "Xiaoshan Grid Governance Situation"),
    "app_title_place": ("萧山区一张网 · {place}基层治理态势", "Xiaoshan One-Network · {place}"),
    # Beside the unit of a figure the source keeps per town only, on a village's or a grid's view.
    "town_figure": ("（镇街）", " (town)"),
    "wall_title_place": ("{place}基层治理态势感知", "{place} · Grid Governance Situation"),
    "overview": ("总览", "Overview"),
    "backlog": ("网格积压", "Backlog"),
    "patrol": ("巡防覆盖", "Patrol"),
    "trends": ("趋势", "Trends"),
    "rankings": ("排名", "Rankings"),
    "events": ("事件明细", "Events"),
    "alerts": ("告警", "Alerts"),
    "briefings": ("简报", "Briefings"),
    "district": ("全区", "Whole district"),
    "town": ("镇街", "Town"),
    "village": ("村社", "Village"),
    "grid": ("网格", "Grid"),
    "category": ("事件类别", "Category"),
    "source": ("来源", "Source"),
    "dept": ("承办部门", "Department"),
    "period": ("统计周期", "Period"),
    "day": ("今日", "Today"),
    "week": ("本周", "This week"),
    "month": ("本月", "This month"),
    "quarter": ("本季", "This quarter"),
    "year": ("本年", "This year"),
    "custom": ("自定义", "Custom"),
    "eastern": ("大江东五街道", "Dajiangdong streets"),
    "include": ("含", "Included"),
    "exclude": ("不含", "Excluded"),
    "as_of": ("回看时刻", "As of"),
    "live": ("实时", "Live"),
    "back_to_live": ("返回实时", "Back to live"),
    "replay_banner": ("回看 {when} 的态势（非实时数据）", "Replaying the board as of {when} (not live)"),
    "stale_banner": (
        "数据源暂不可用，显示 {age} 前的数据，正在重试…",
        "Source unreachable: showing data from {age} ago, retrying…",
    ),
    "waiting": ("正在连接数据源…", "Connecting to the data source…"),
    "denied_screen": ("未授权屏幕", "Unauthorised screen"),
    "denied_text": (
        "此屏幕的授权已撤销或无效，不显示数据。请联系管理员重新授权。",
        "This screen's token was revoked or is not valid, so no data is shown. Ask an administrator.",
    ),
    "signed_out": (
        "登录已失效，数据不再更新。请重新登录。",
        "Your sign-in has ended and the data no longer updates. Please sign in again.",
    ),
    "sign_out": ("退出", "Sign out"),
    "data_as_of": ("数据截至 {when}", "Data as of {when}"),
    "stream_late": ("{name}数据 {age}未更新", "{name}: no new data for {age}"),
    "stream_stopped": ("{name}数据已停更 {age}", "{name}: data stopped {age} ago"),
    "alerts_unconfirmed": (
        "事件数据停更，告警未随实况更新",
        "Report data stopped: alerts are not following the live situation",
    ),
    "alerts_unsure": (
        "事件数据延迟，告警可能未反映实况",
        "Report data late: alerts may lag the live situation",
    ),
    "vs_prev": ("环比", "vs prev."),
    "vs_ly": ("同比", "YoY"),
    "all": ("全部", "All"),
    "apply": ("应用", "Apply"),
    "export": ("导出", "Export"),
    "language": ("English", "中文"),
    "illustrative": ("示意边界，非法定界线", "Illustrative boundaries, not legal ones"),
    "not_found": ("页面不存在", "Page not found"),
    "not_found_body": (
        "这个地址没有对应的页面。请从上方导航进入，或返回总览。",
        "There is no page at this address. Choose a page above, or go back to the overview.",
    ),
    "back_to_overview": ("返回总览", "Back to the overview"),
    "open_cases": ("在办件", "Open cases"),
    "overdue": ("超期", "Overdue"),
    "per_1000": ("每千人积压", "Backlog per 1,000 residents"),
    "ageing": ("积压时长分布", "Backlog by age"),
    "top_overdue_grids": ("超期件最多的网格", "Grids with most overdue cases"),
    "reported": ("上报", "Reported"),
    "closed": ("办结", "Closed"),
    "last_year": ("去年同期", "Last year"),
    "by_category": ("按类别", "By category"),
    "by_source": ("按来源", "By source"),
    "by_dept": ("按部门", "By department"),
    "town_ranking": ("镇街排名", "Town ranking"),
    "dept_ranking": ("部门排名", "Department ranking"),
    "coverage_by_town": (
        "各单位今日巡查覆盖率",
        "Patrol coverage today by unit",
    ),  # towns, or a town's villages
    "hours_since_patrol": ("距上次有效巡查（小时）", "Hours since last valid patrol"),
    "on_duty": ("在岗巡防力量", "Patrol forces on duty"),
    "video_offline": ("离线最久的视频点位", "Video points offline longest"),
    "ticker": ("最新紧急及督办事件", "Newest urgent and supervised cases"),
    "no_data": ("暂无数据", "No data"),
    "first_n": ("前{n}", "top {n}"),
    "more_alerts": ("另有 {n} 条告警", "{n} more alerts"),
    "alert_taken_on": ("已认领", "taken on"),
    # The 简报 page (layouts/pages.py briefings, callbacks/briefings.py)
    "br_kind": ("类型", "Kind"),
    "br_all": ("全部", "All"),
    "br_archive_title": ("往期简报", "Past briefings"),
    "br_period": ("周期", "Period"),
    "br_scope": ("范围", "Scope"),
    "br_lang": ("语言", "Language"),
    "br_title": ("标题", "Title"),
    "br_made": ("生成时间", "Made"),
    "br_files": ("下载", "Download"),
    "br_none": ("暂无往期简报", "No briefings yet"),
    "br_summary": ("共 {n} 份简报（{kinds}）", "{n} briefings ({kinds})"),
    "br_failed_title": ("发送失败", "Failed deliveries"),
    "br_failed_none": ("近期发送均成功", "Every recent delivery succeeded"),
    "br_channel": ("渠道", "Channel"),
    "br_error": ("原因", "Reason"),
    "br_at": ("时间", "When"),
    "br_defs_title": ("简报定义", "Briefing definitions"),
    "br_defs_intro": (
        "调度按以下定义生成并发送简报；未定义时，使用配置 DASHBOARD_BRIEFINGS 中列出的简报（如有）。",
        "The scheduler makes and sends these; with none defined, those listed in the setting "
        "DASHBOARD_BRIEFINGS, if any.",
    ),
    "br_defs_none": ("尚未定义简报", "No briefing is defined"),
    "br_defs_default": ("（默认，来自配置）", "(default, from the settings)"),
    "br_recipients": ("接收人", "Recipients"),
    "br_changed": ("最近修改", "Last changed"),
    "br_no_recipient": ("仅归档", "archive only"),
    "br_form_title": ("定义简报", "Define a briefing"),
    "br_form_intro": (
        "选择已有定义可修改或删除；不选则新建。范围留空为全区。Webhook 地址与邮件服务器口令只在配置中。",
        "Choose a definition to edit or delete it; none chosen makes a new one. No town: the district. "
        "Webhook URLs and the mail relay's login stay in the settings.",
    ),
    "br_def_new": ("新建定义", "New definition"),
    "br_def_mail": ("邮件地址（逗号分隔）", "Mail addresses (comma-separated)"),
    "br_def_hooks": ("Webhook 名称", "Webhook names"),
    "br_def_towns": ("镇街（留空为全区）", "Towns (none: the district)"),
    "br_save": ("保存", "Save"),
    "br_delete": ("删除", "Delete"),
    "br_saved_new": ("已新建简报定义 #{id}", "Briefing definition #{id} made"),
    "br_saved": ("已保存简报定义 #{id}", "Briefing definition #{id} saved"),
    "br_deleted": ("已删除简报定义 #{id}", "Briefing definition #{id} deleted"),
    "br_not_found": ("简报定义 #{id} 不存在", "There is no briefing definition #{id}"),
    "br_choose_first": ("请先选择要删除的定义", "Choose the definition to delete first"),
    "br_refused": ("只有管理员可以定义简报", "Only administrators define briefings"),
    "br_bad": ("未保存：{why}", "Not saved: {why}"),
    # The 告警 page (layouts/pages.py alerts, callbacks/alerts.py)
    "al_state": ("状态", "State"),
    "al_active": ("未关闭", "Not closed"),
    "al_open": ("待认领", "Open"),
    "al_acked": ("已认领", "Taken on"),
    "al_closed": ("已关闭", "Closed"),
    "al_all": ("全部", "All"),
    "al_rule": ("规则", "Rule"),
    "al_id": ("编号", "No."),
    "al_text": ("告警内容", "Alert"),
    "al_unit": ("单位", "Unit"),
    "al_opened": ("开始时间", "Opened"),
    "al_since": ("持续", "Open for"),
    "al_count": ("当前", "Latest"),
    "al_peak": ("峰值", "Peak"),
    "al_threshold": ("阈值", "Threshold"),
    "al_taken_by": ("认领人", "Taken on by"),
    "al_closed_at": ("关闭", "Closed"),
    "al_note": ("处置说明", "What was done"),
    "al_summary": (
        "共 {n} 条告警：待认领 {open} 条，已认领 {acked} 条，已关闭 {closed} 条",
        "{n} alerts: {open} open, {acked} taken on, {closed} closed",
    ),
    "al_summary_asof": ("{when} 时未关闭的告警 {n} 条", "{n} alerts open at {when}"),
    "al_history_from": ("已关闭的告警自 {when} 起", "closed alerts since {when}"),
    "al_none": ("没有符合条件的告警", "No alerts match"),
    "al_push_failed": ("推送失败（近24小时）", "Messages that failed (last 24 hours)"),
    "al_push_item": (
        "#{id} {alert} → {channel}：重试 {attempts} 次仍失败，最后一次 {at}（{error}）",
        "#{id} {alert} → {channel}: failed after {attempts} tries, the last at {at} ({error})",
    ),
    "al_act_title": ("认领与处置", "Take on and close"),
    "al_pick": ("选择告警", "Choose an alert"),
    "al_note_hint": ("处置说明（关闭时必填）", "What was done (needed to close)"),
    "al_ack_button": ("认领", "Take on"),
    "al_close_button": ("处置并关闭", "Close with note"),
    "al_nothing_to_act": ("当前没有您可以认领或处置的告警", "No alerts you may take on or close"),
    "al_done_ack": ("已认领告警 #{id}", "Alert #{id} taken on"),
    "al_done_close": ("已关闭告警 #{id}", "Alert #{id} closed"),
    "al_refused": ("您的角色或镇街无权处理该告警", "Your role or towns do not allow acting on this alert"),
    "al_conflict": ("无法操作：{why}", "Not done: {why}"),
    "al_not_found": ("该告警不存在", "No such alert"),
    "al_need_note": ("请填写处置说明", "Write what was done"),
    "al_csrf": ("页面已过期，请刷新后重试", "The page has expired: reload it and try again"),
    "al_choose_first": ("请先选择一条告警", "Choose an alert first"),
    "al_rules_title": ("告警阈值（管理员）", "Alert thresholds (administrators)"),
    "al_rules_intro": (
        "全区默认值来自环境变量 DASHBOARD_ALERT_*；镇街单独设置的值优先于默认值。",
        "District defaults come from the DASHBOARD_ALERT_* variables; a town's own value wins over the default.",
    ),
    "al_param": ("参数", "Parameter"),
    "al_default": ("全区默认", "District default"),
    "al_town_values": ("镇街设置", "Towns' own values"),
    "al_value": ("数值", "Value"),
    "al_set_button": ("设定", "Set"),
    "al_unset_button": ("恢复默认", "Back to default"),
    "al_rule_set": ("已设定 {town} {param} = {value}", "{town}: {param} set to {value}"),
    "al_rule_unset": ("{town} {param} 已恢复默认", "{town}: {param} back to the default"),
    "al_rule_had_none": ("{town} {param} 本无单独设置", "{town} had no value of its own for {param}"),
    "al_rule_need": ("请选择镇街和参数", "Choose a town and a parameter"),
    "al_rule_refused": ("只有管理员可以修改告警阈值", "Only administrators change alert thresholds"),
    "al_bad_value": ("数值无效：{why}", "Bad value: {why}"),
    "popup_title": ("新告警", "New alert"),
    "popup_more": ("另有 {n} 条新告警", "{n} more new alerts"),
    "nt_title": ("时间轴标注", "Notes on the timeline"),
    "nt_intro": (
        "标注某一时刻或时段（如亚运会安保、台风、专项行动），显示在各趋势图（浏览器、大屏、幻灯片）上并列入简报。",
        "Mark a moment or a period (a security operation, a typhoon, a campaign): it shows on every trend "
        "chart (browser, wall, slides) and in the briefings.",
    ),
    "nt_none": ("本期无标注", "No notes in this window"),
    "nt_when": ("时间", "When"),
    "nt_text": ("标注", "Note"),
    "nt_scope": ("范围", "Scope"),
    "nt_by": ("标注人", "By"),
    "nt_district": ("全区", "District"),
    "nt_text_hint": ("标注内容，如：亚运会安保", "The note, e.g. Asian Games security"),
    "nt_start_hint": ("开始 2026-09-20 08:00", "Start 2026-09-20 08:00"),
    "nt_end_hint": ("结束（留空为时刻）", "End (empty: a moment)"),
    "nt_towns_hint": ("范围：全区", "Scope: district"),
    "nt_add": ("添加标注", "Add note"),
    "nt_pick": ("选择要删除的标注", "Pick a note to delete"),
    "nt_delete": ("删除标注", "Delete note"),
    "nt_added": ("已添加标注 #{id}", "Note #{id} added"),
    "nt_deleted": ("已删除标注 #{id}", "Note #{id} deleted"),
    "nt_refused": ("您的角色或镇街不允许此操作", "Your role or towns do not allow this"),
    "nt_bad": ("无法添加：{why}", "Not added: {why}"),
    "nt_not_found": ("标注不存在", "No such note"),
    "date_from": ("开始日期", "Start date"),
    "date_to": ("结束日期", "End date"),
    "date_pick": ("选择日期", "Pick a date"),
    "time_pick": ("时:分", "HH:MM"),
    "month_format": ("YYYY年MMMM", "MMMM YYYY"),
    # The dropdowns' own texts (Dash writes them in English unless told)
    "dd_select_all": ("全选", "Select all"),
    "dd_deselect_all": ("全不选", "Deselect all"),
    "dd_selected_count": ("已选 {num_selected} 项", "{num_selected} selected"),
    "dd_search": ("搜索", "Search"),
    "dd_clear_search": ("清除搜索", "Clear search"),
    "dd_clear_selection": ("清除选择", "Clear selection"),
    "dd_no_options_found": ("无匹配选项", "No options found"),
    "lowest_n": ("最低{n}个", "lowest {n}"),
    "minutes": ("{n} 分钟", "{n} min"),
    "hours": ("{n} 小时", "{n} h"),
    "seconds": ("{n} 秒", "{n} s"),
}


def t(key: str, lang: str, **fmt: object) -> str:
    """The interface string ``key`` in ``lang`` (zh or en)."""
    zh, en = STRINGS[key]
    text = en if lang == "en" else zh
    return text.format(**fmt) if fmt else text


def label(obj: object, lang: str) -> str:
    """The zh or en name of anything with ``zh``/``en`` or ``name_zh``/``name_en`` attributes or keys."""
    for zh_key, en_key in (("zh", "en"), ("name_zh", "name_en"), ("label_zh", "label_en")):
        if isinstance(obj, dict) and zh_key in obj:
            return str(obj[en_key] if lang == "en" else obj[zh_key])
        if hasattr(obj, zh_key):
            return str(getattr(obj, en_key) if lang == "en" else getattr(obj, zh_key))
    return str(obj)


def fmt_number(value: float | int | None, decimals: int = 0) -> str:
    """zh-CN and en share the digit grouping (1,234.5); None shows as an em dash."""
    if value is None:
        return "—"
    return f"{value:,.{decimals}f}"


def to_local(moment: dt.datetime) -> dt.datetime:
    return moment.astimezone(SHANGHAI)


def fmt_datetime(moment: dt.datetime | str | None, lang: str = "zh", *, seconds: bool = False) -> str:
    """``2026年11月28日 14:05`` in Chinese, ``2026-11-28 14:05`` in English, always Asia/Shanghai."""
    if moment is None:
        return "—"
    if isinstance(moment, str):
        moment = dt.datetime.fromisoformat(moment)
    local = to_local(moment)
    clock = local.strftime("%H:%M:%S" if seconds else "%H:%M")
    if lang == "en":
        return f"{local:%Y-%m-%d} {clock}"
    return f"{local.year}年{local.month}月{local.day}日 {clock}"


def fmt_age(seconds: float, lang: str) -> str:
    """A human age: ``5 分钟`` / ``2 小时``."""
    if seconds < 90:
        return t("seconds", lang, n=int(seconds))
    if seconds < 5400:
        return t("minutes", lang, n=round(seconds / 60))
    return t("hours", lang, n=round(seconds / 3600, 1))
