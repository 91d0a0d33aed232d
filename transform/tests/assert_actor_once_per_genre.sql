-- An actor appears at most once per genre in the top list.
select genre, person_id, count(*) as n
from {{ ref('top_actors_by_genre') }}
group by genre, person_id
having count(*) > 1
