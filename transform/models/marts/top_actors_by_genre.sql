-- Per genre: the ten actors credited in the most distinct titles of that genre.
-- Ties go to actor_name, then person_id. Credits are reduced to distinct (person, title)
-- pairs before the genre join, so the join and the count stay small at scale.
with acting as (
    select person_id, title_id, min(person_name) as person_name
    from {{ ref('stg_credits') }}
    where role = 'ACTOR'
    group by person_id, title_id
),
names as (
    select person_id, min(person_name) as actor_name
    from acting
    group by person_id
),
performances as (
    select g.genre, a.person_id, count(*) as performances
    from acting a
    join {{ ref('int_title_genres') }} g on g.title_id = a.title_id
    group by g.genre, a.person_id
),
ranked as (
    select
        p.genre,
        p.person_id,
        n.actor_name,
        p.performances,
        row_number() over (partition by p.genre order by p.performances desc, n.actor_name, p.person_id) as rank
    from performances p
    join names n on n.person_id = p.person_id
)
select genre, person_id, actor_name, performances, rank
from ranked
where rank <= 10
