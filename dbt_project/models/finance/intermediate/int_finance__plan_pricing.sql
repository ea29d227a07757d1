-- plan -> monthly subscription fee in USD and transaction fee rate on GMV.
select 'starter' as plan, cast(29 as numeric(14, 2)) as subscription_fee, cast(0.029 as numeric(6, 4)) as take_rate
union all
select 'growth', cast(99 as numeric(14, 2)), cast(0.025 as numeric(6, 4))
union all
select 'enterprise', cast(499 as numeric(14, 2)), cast(0.019 as numeric(6, 4))
