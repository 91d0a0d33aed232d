-- Per genre: the ten actors credited in the most distinct titles of that genre.
-- Ties go to actor_name, then person_id (actor_name: the smallest name a person is credited under).
--
-- Written to stay cheap at scale: ranking millions of (genre, actor) rows with their names is
-- what makes this mart slow, so it ranks only the candidates that can reach the top ten — those
-- with at least the tenth-highest performance count of their genre, found from a small
-- histogram — and looks names up for those few actors only.
with performances as {{ materialized_cte() }} (
    select g.genre, c.person_id, count(distinct c.title_id) as performances
    from {{ ref('stg_credits') }} c
    join {{ ref('int_title_genres') }} g on g.title_id = c.title_id
    where c.role = 'ACTOR'
    group by g.genre, c.person_id
),
histogram as (
    select genre, performances, count(*) as actors
    from performances
    group by genre, performances
),
thresholds as (
    select genre, max(performances) as min_performances
    from (
        select
            genre,
            performances,
            sum(actors) over (partition by genre order by performances desc rows between unbounded preceding and current row) as at_least
        from histogram
    ) h
    where at_least >= 10
    group by genre
),
candidates as (
    select p.genre, p.person_id, p.performances
    from performances p
    left join thresholds t on t.genre = p.genre
    where p.performances >= coalesce(t.min_performances, 0)
),
names as (
    select person_id, min(person_name) as actor_name
    from {{ ref('stg_credits') }}
    where role = 'ACTOR' and person_id in (select person_id from candidates)
    group by person_id
),
ranked as (
    select
        c.genre,
        c.person_id,
        n.actor_name,
        c.performances,
        row_number() over (partition by c.genre order by c.performances desc, n.actor_name, c.person_id) as rank
    from candidates c
    join names n on n.person_id = c.person_id
)
select genre, person_id, actor_name, performances, rank
from ranked
where rank <= 10
