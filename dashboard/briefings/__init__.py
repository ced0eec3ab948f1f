"""Briefings on the hall's cadence: 日报, 周汇总, 月分析, 季评估, made and archived.

kinds      the kinds, the period each covers, its view (the period as it stood at its end)
archive    making one (deck and PDF through the export) into the archive, and listing it
deliver    mail (SMTP relay) and webhooks (DingTalk / 浙政钉, WeCom, JSON), retried, the outcome kept
schedule   the hall's cadence: what is due, one pass under the shared lock, APScheduler's triggers
defined    what runs: the stored definitions (or the settings' default), their recipients, the servers' scheduler
"""
