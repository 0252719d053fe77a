"""The campaign what-if for team leads: the campaign's settings (with changes tried) through the
call-centre simulation on its own history. The simulation runs in a worker process, so a team
lead's question never slows a screen pop."""

from __future__ import annotations

import asyncio
import concurrent.futures
import functools
import multiprocessing
from collections.abc import AsyncIterator
from typing import Any

from aiohttp import web
from pydantic import Field

from crm_core.schemas import Input
from dialer.campaigns import what_if_inputs
from dialer.whatif import what_if
from web.api.registry import ApiRoutes
from web.appkeys import clock_key, db_key
from web.inputs import path_id

api = ApiRoutes()
what_if_pool_key = web.AppKey("what_if_pool", concurrent.futures.ProcessPoolExecutor)
RUN_LIMIT = 60.0  # seconds a what-if may take before it is given up


class WhatIfInput(Input):
    agents: int = Field(default=10, ge=1, le=300, description="Agents working the campaign")
    minutes: int = Field(default=30, ge=10, le=120, description="Simulated minutes")
    changes: dict[str, Any] = Field(
        default_factory=dict,
        description="Settings to try instead of the campaign's (mode, abandon_cap in percent,"
        " patience, max_lines): checked as an edit would be",
    )


async def what_if_pool(app: web.Application) -> AsyncIterator[None]:
    # One worker: what-ifs queue behind each other rather than take both cores from the calls.
    pool = concurrent.futures.ProcessPoolExecutor(
        max_workers=1, mp_context=multiprocessing.get_context("spawn")
    )
    app[what_if_pool_key] = pool
    yield
    pool.shutdown(wait=False, cancel_futures=True)


@api.route(
    "POST",
    "/campaigns/{campaign_id}/what-if",
    summary="Expected talk time and abandon rate of these settings, on the campaign's history",
    access="campaigns.monitor",
    body=WhatIfInput,
    tag="campaigns",
)
async def run_what_if(request: web.Request, data: WhatIfInput) -> object:
    async with request.app[db_key]() as session:
        history, policy = await what_if_inputs(
            session, path_id(request, "campaign_id"), data.changes, request.app[clock_key]()
        )
    work = functools.partial(what_if, history, policy, agents=data.agents, minutes=data.minutes)
    loop = asyncio.get_running_loop()
    async with asyncio.timeout(RUN_LIMIT):
        return await loop.run_in_executor(request.app[what_if_pool_key], work)
