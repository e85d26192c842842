"""The French lexicon of the offline baseline: data only, measured with the detector code.

Patterns are regular expressions over *normalised* text (see
:func:`confiance.detect.minors.lexicon.normalise`): lower case, no accents,
apostrophes and punctuation turned into spaces, SMS spellings expanded
("jveux" -> "je veux", "chui" -> "je suis"). Each entry names its class,
severity, base confidence and whether a negation just before it cancels it.
Contexts are phrases that, anywhere in the same text, mark it as not being a
signal of that class (song lyrics, school work, news, help lines, jokes).
"""

from __future__ import annotations

#: token -> replacement, applied word by word after accents and apostrophes go
SMS: dict[str, str] = {
    "j": "je",
    "jveux": "je veux",
    "jveu": "je veux",
    "jvx": "je veux",
    "veu": "veux",
    "vx": "veux",
    "jsuis": "je suis",
    "jsui": "je suis",
    "chui": "je suis",
    "chuis": "je suis",
    "jpeux": "je peux",
    "jpeu": "je peux",
    "jme": "je me",
    "jmen": "je me en",
    "jai": "je ai",
    "g": "je ai",
    "jpp": "je en peux plus",
    "jvais": "je vais",
    "jvai": "je vais",
    "vai": "vais",
    "m": "me",
    "t": "te",
    "s": "se",
    "n": "ne",
    "l": "le",
    "d": "de",
    "qu": "que",
    "ke": "que",
    "k": "que",
    "koi": "quoi",
    "pk": "pourquoi",
    "pq": "pourquoi",
    "pkoi": "pourquoi",
    "tt": "tout",
    "tlm": "tout le monde",
    "bcp": "beaucoup",
    "pa": "pas",
    "plu": "plus",
    "pr": "pour",
    "ds": "dans",
    "ya": "il y a",
    "mourrir": "mourir",
    "mourire": "mourir",
    "mouri": "mourir",
    "envi": "envie",
    "suiside": "suicide",
    "sucide": "suicide",
    "suicde": "suicide",
    "suicid": "suicide",
    "suicidee": "suicider",
    "suisider": "suicider",
    "sucider": "suicider",
    "vivr": "vivre",
    "vie2": "vie",
    "ptn": "putain",
    "harcelee": "harcele",
    "harceler": "harceler",
    "daesh": "daech",
    "jihad": "djihad",
    "jihadiste": "djihadiste",
    "tjr": "toujours",
    "tjrs": "toujours",
    "nul": "nul",
    "personn": "personne",
    "sa": "ca",
    "kelk": "quelque",
}

#: (id, class, severity, confidence, negatable, pattern)
PATTERNS: tuple[tuple[str, str, str, float, bool, str], ...] = (
    # distress: suicidal ideation, self-harm, method seeking
    (
        "distress.method",
        "distress",
        "critical",
        0.9,
        True,
        r"\b(?:comment|moyen|moyens|methode|methodes|facon|facons|tuto) (?:de |pour |se |me |a )*"
        r"(?:suicider|se tuer|me tuer|mourir sans (?:douleur|souffrir)|en finir|se pendre|me pendre)\b",
    ),
    (
        "distress.lethal-dose",
        "distress",
        "critical",
        0.85,
        False,
        r"\b(?:dose (?:mortelle|letale)|combien de (?:\w+ ){1,3}pour (?:mourir|en finir|ne plus se reveiller))\b",
    ),
    (
        "distress.painless",
        "distress",
        "critical",
        0.85,
        False,
        r"\b(?:suicide|mourir) (?:sans douleur|sans souffrir|rapide(?:ment)?|facile(?:ment)?)\b",
    ),
    (
        "distress.want-to-die",
        "distress",
        "high",
        0.8,
        True,
        r"\b(?:je (?:\w+ ){0,2}(?:veux|voudrais|vais|veut|ai envie de)|envie de) "
        r"(?:juste |vraiment |tellement |trop |bien |tellement )?"
        r"(?:mourir|crever|disparaitre|en finir|me suicider|me tuer|me pendre|me foutre en le air|"
        r"mettre fin a mes jours|me jeter (?:sous|du|d un|par))\b",
    ),
    (
        "distress.no-will-to-live",
        "distress",
        "high",
        0.8,
        False,
        r"\b(?:plus (?:aucune )?envie de vivre|(?:plus|pas) la force de vivre|marre de (?:la |ma )?vie|"
        r"la vie ne a (?:plus de|aucun) sens|je veux plus vivre|je veux plus etre la)\b",
    ),
    (
        "distress.burden",
        "distress",
        "high",
        0.7,
        False,
        r"\b(?:tout le monde serait mieux sans moi|personne ne me regretterait|personne ne me aime|"
        r"je suis un fardeau|je sers a rien|je ne sers a rien|lettre de adieu|dire adieu a tout le monde|"
        r"je me sens (?:tellement |trop |si )?(?:seule?|vide|inutile|nulle?) (?:a en mourir|je veux partir))\b",
    ),
    (
        "distress.jump",
        "distress",
        "high",
        0.75,
        True,
        r"\b(?:sauter|me jeter|se jeter) (?:de le |du |de un |d un |depuis un |par la )?"
        r"(?:pont|immeuble|toit|fenetre|falaise)\b",
    ),
    (
        "distress.self-harm",
        "distress",
        "medium",
        0.7,
        True,
        r"\b(?:je me (?:scarifie|mutile|coupe les (?:bras|poignets|cuisses)|fais du mal|brule)|"
        r"(?:envie|besoin) de me (?:faire du mal|couper|scarifier)|me scarifier|scarification|automutilation|"
        r"cacher (?:mes|des) (?:cicatrices|coupures))\b",
    ),
    (
        "distress.cant-go-on",
        "distress",
        "medium",
        0.5,
        True,
        r"\b(?:je (?:ne )?(?:en )?peux plus (?:de vivre|de tout|de ma vie)|je suis a bout|je veux que ca "
        r"s arrete|je veux que tout s arrete|je veux que tout se arrete)\b",
    ),
    # radicalisation: violent extremism, attack preparation
    (
        "radical.explosive",
        "radicalisation",
        "critical",
        0.85,
        True,
        r"\b(?:fabriquer|faire|construire|preparer|recette|tuto) (?:de |une |un |des |d une |le )?"
        r"(?:bombe|explosif|explosifs|ceinture de explosifs|tatp|engin explosif|cocktail molotov|"
        r"bombe artisanale|bombe cocotte)\b|\b(?:bombe artisanale|bombe cocotte|engin explosif improvise)\b",
    ),
    (
        "radical.school-attack",
        "radicalisation",
        "critical",
        0.9,
        True,
        r"\b(?:je vais|comment|preparer|organiser|faire) (?:\w+ ){0,2}(?:une )?(?:fusillade|tuerie|massacre|"
        r"attaque|attentat) (?:au|dans|a|contre) (?:mon |ma |le |la |l |mon )?(?:lycee|college|ecole|prof|classe)\b|"
        r"\b(?:fusillade|tuerie|massacre|attentat) (?:dans|au|a) (?:mon|ma) (?:lycee|college|ecole|classe)\b",
    ),
    (
        "radical.join",
        "radicalisation",
        "high",
        0.85,
        True,
        r"\b(?:rejoindre|partir (?:rejoindre|en syrie avec)|prete allegeance a|allegeance a|bay a a) "
        r"(?:le |la |l |les )?(?:daech|etat islamique|ei|djihad|moudjahidines|califat|al qaida|atomwaffen)\b",
    ),
    (
        "radical.jihad",
        "radicalisation",
        "high",
        0.8,
        True,
        r"\b(?:partir|aller) (?:faire le |au )?djihad\b|\bmourir en (?:martyr|chahid)\b|"
        r"\bdevenir (?:un )?(?:martyr|moudjahid|chahid)\b",
    ),
    (
        "radical.kill-group",
        "radicalisation",
        "critical",
        0.9,
        True,
        r"\b(?:tuer|egorger|decapiter|massacrer|exterminer|bruler) (?:tous )?(?:les |des |ces )?"
        r"(?:juifs|musulmans|arabes|noirs|blancs|mecreants|kouffars|koufars|apostats|chretiens|"
        r"homos|pd|gays|migrants)\b",
    ),
    (
        "radical.death-to",
        "radicalisation",
        "high",
        0.75,
        False,
        r"\bmort aux (?:juifs|arabes|musulmans|noirs|blancs|kouffars|mecreants|chretiens|migrants|homos|pd)\b",
    ),
    (
        "radical.propaganda",
        "radicalisation",
        "medium",
        0.6,
        False,
        r"\b(?:manifeste (?:de )?(?:brenton )?tarrant|manifeste du grand remplacement|video (?:de la )?"
        r"(?:tuerie|fusillade) (?:de )?christchurch|revue dabiq|magazine dabiq|rumiyah|anwar al awlaki|"
        r"nachid (?:daech|ei|etat islamique)|saint tarrant|guerre raciale maintenant)\b",
    ),
    # harassment: victims, aggressors, sextortion and grooming
    (
        "harass.victim",
        "harassment",
        "high",
        0.75,
        True,
        r"\b(?:je suis|on me|ils me|elles me|il me|elle me|tout le monde me) (?:\w+ ){0,2}"
        r"(?:harcele|harcelent|harcele|frappent|rackettent|menacent|insultent tous les jours)\b",
    ),
    (
        "harass.sextortion",
        "harassment",
        "critical",
        0.85,
        False,
        r"\b(?:sextorsion|(?:menace|menacent|veut|veulent|va|vont) (?:de )?(?:publier|diffuser|envoyer|montrer)"
        r" (?:mes|ma|des) (?:photos|nudes|videos|photo)|(?:ont|a) (?:diffuse|publie|partage) (?:mes|ma) "
        r"(?:photos|nudes|videos|photo))\b",
    ),
    (
        "harass.grooming",
        "harassment",
        "critical",
        0.85,
        True,
        r"\b(?:envoie(?:s)? (?:moi )?(?:des |une |tes )?(?:nudes|photos? (?:de toi )?(?:nue?|sans habits|"
        r"en sous vetements))|ne le dis (?:pas|a personne|surtout pas) a tes parents|ce sera notre secret|"
        r"efface nos messages)\b",
    ),
    (
        "harass.incite-suicide",
        "harassment",
        "high",
        0.8,
        False,
        r"\b(?:suicide toi|va te (?:pendre|suicider|tuer|jeter)|tu devrais (?:te suicider|mourir|crever)|"
        r"personne ne te aime|tout le monde te deteste|le monde serait mieux sans toi|va crever)\b",
    ),
    (
        "harass.threat",
        "harassment",
        "medium",
        0.6,
        True,
        r"\b(?:je vais te|on va te|on va le|on va la) (?:tuer|buter|defoncer|tabasser|niquer|retrouver|"
        r"egorger|planter|bruler)\b",
    ),
    (
        "harass.aggressor",
        "harassment",
        "medium",
        0.55,
        True,
        r"\b(?:comment|tuto pour) (?:harceler|humilier|pirater le compte (?:snap|insta|instagram|tiktok) de|"
        r"trouver le adresse de|faire un faux compte pour)\b",
    ),
)

#: phrases that show a text is not a signal of the class (value "*": every class)
CONTEXTS: tuple[tuple[str, str, str], ...] = (
    (
        "context.culture",
        "*",
        r"\b(?:paroles|lyrics|chanson|clip|album|film|serie|saison|episode|livre|roman|bd|manga|"
        r"resume (?:du|de)|analyse (?:du|de)|expose (?:sur|de)|dissertation|commentaire (?:de|du) texte|"
        r"wikipedia|definition|documentaire|podcast|citation|poeme|piece de theatre)\b",
    ),
    (
        "context.news",
        "*",
        r"\b(?:actualite|article|journal|reportage|enquete|statistiques|chiffres|etude|journee "
        r"(?:mondiale|nationale)|campagne|proces|commemoration|hommage|anniversaire de le|bilan)\b",
    ),
    (
        "context.help-line",
        "distress",
        r"\b(?:3114|numero|ligne de ecoute|sos amitie|fil sante jeunes|prevention|association|"
        r"(?:aider|soutenir|rassurer) (?:un|une|mon|ma|le|la|son|sa) (?:ami|amie|pote|copain|copine|frere|"
        r"soeur|fils|fille|eleve|proche|enfant)|que faire si (?:mon|ma|un|une) (?:ami|amie|enfant|fils|fille))\b",
    ),
    (
        "context.humour",
        "distress",
        r"\b(?:mourir de rire|mort de rire|morte de rire|meurs de rire|mdr|ptdr|lol|xd|je en peux plus de "
        r"rire|de rire|trop drole|de honte|de faim|de froid|de chaud|de ennui|de fatigue)\b",
    ),
    (
        "context.history",
        "radicalisation",
        r"\b(?:histoire|historique|seconde guerre|premiere guerre|hiroshima|resistance|resistants|"
        r"bombe de bain|bombe a graines|bombe calorique|bombe glacee|bombe de peinture|cocktail sans alcool|"
        r"jeu video|fortnite|minecraft|call of duty|counter strike|gta|victimes)\b",
    ),
    (
        "context.help-line",
        "harassment",
        r"\b(?:3018|pharos|e enfance|non au harcelement|prevention|signaler|association|loi|sanction|"
        r"que risque|puni par)\b",
    ),
)

#: words that, in the two words before a negatable hit, cancel it
NEGATIONS: tuple[str, ...] = (
    "pas",
    "jamais",
    "ne",
    "non",
    "sans",
    "aucune",
    "aucunement",
    "nullement",
)
